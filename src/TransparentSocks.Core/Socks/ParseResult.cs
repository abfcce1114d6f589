namespace TransparentSocks.Socks;

/// <summary>
/// Result of an incremental parse. <see cref="Consumed"/> is 0 unless <see cref="Status"/> is
/// <see cref="ParseStatus.Done"/>, and <see cref="Value"/> is default unless it is Done, so a caller
/// that needs more data simply reads more and parses again from the same start.
/// </summary>
public readonly struct ParseResult<T>
{
    private ParseResult(ParseStatus status, T value, int consumed, Socks5ParseError error)
    {
        Status = status;
        Value = value;
        Consumed = consumed;
        Error = error;
    }

    public ParseStatus Status { get; }

    public T Value { get; }

    /// <summary>Length of the parsed message; bytes after it belong to the next message.</summary>
    public int Consumed { get; }

    /// <summary>Why the input was refused; <see cref="Socks5ParseError.None"/> unless <see cref="IsInvalid"/>.</summary>
    public Socks5ParseError Error { get; }

    public bool IsDone => Status == ParseStatus.Done;

    public bool NeedsMoreData => Status == ParseStatus.NeedMoreData;

    public bool IsInvalid => Status == ParseStatus.Invalid;

    public static ParseResult<T> NeedMore() => new(ParseStatus.NeedMoreData, default!, 0, Socks5ParseError.None);

    public static ParseResult<T> Done(T value, int consumed) => new(ParseStatus.Done, value, consumed, Socks5ParseError.None);

    public static ParseResult<T> Invalid(Socks5ParseError error) => new(ParseStatus.Invalid, default!, 0, error);

    public override string ToString() => Status switch
    {
        ParseStatus.Done => $"Done({Value}, {Consumed})",
        ParseStatus.Invalid => $"Invalid({Error})",
        _ => "NeedMoreData",
    };
}
