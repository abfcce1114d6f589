namespace TransparentSocks.Socks;

/// <summary>
/// Result of an incremental parse. <see cref="Consumed"/> is 0 unless <see cref="Status"/> is
/// <see cref="ParseStatus.Done"/>, and <see cref="Value"/> is default unless it is Done, so a caller
/// that needs more data simply reads more and parses again from the same start.
/// </summary>
public readonly struct ParseResult<T>
{
    // Consumed when Done, bytes still needed when NeedMoreData: one field, since a result is only ever one of them.
    private readonly int _length;

    private ParseResult(ParseStatus status, T value, int length, Socks5ParseError error)
    {
        Status = status;
        Value = value;
        _length = length;
        Error = error;
    }

    public ParseStatus Status { get; }

    public T Value { get; }

    /// <summary>Length of the parsed message; bytes after it belong to the next message.</summary>
    public int Consumed => Status == ParseStatus.Done ? _length : 0;

    /// <summary>
    /// When <see cref="NeedsMoreData"/>: how many more bytes the message needs at the least. Reading exactly this
    /// many and parsing again never reads past the message, which a client that leaves the rest of the stream in
    /// the socket (for splice) relies on.
    /// </summary>
    public int Needed => Status == ParseStatus.NeedMoreData ? _length : 0;

    /// <summary>Why the input was refused; <see cref="Socks5ParseError.None"/> unless <see cref="IsInvalid"/>.</summary>
    public Socks5ParseError Error { get; }

    public bool IsDone => Status == ParseStatus.Done;

    public bool NeedsMoreData => Status == ParseStatus.NeedMoreData;

    public bool IsInvalid => Status == ParseStatus.Invalid;

    public static ParseResult<T> NeedMore(int needed = 1) => new(ParseStatus.NeedMoreData, default!, Math.Max(needed, 1), Socks5ParseError.None);

    /// <summary>A prefix of <paramref name="have"/> bytes of a message that is <paramref name="total"/> bytes long at the least.</summary>
    public static ParseResult<T> NeedMore(int have, int total) => NeedMore(total - have);

    public static ParseResult<T> Done(T value, int consumed) => new(ParseStatus.Done, value, consumed, Socks5ParseError.None);

    public static ParseResult<T> Invalid(Socks5ParseError error) => new(ParseStatus.Invalid, default!, 0, error);

    public override string ToString() => Status switch
    {
        ParseStatus.Done => $"Done({Value}, {Consumed})",
        ParseStatus.Invalid => $"Invalid({Error})",
        _ => $"NeedMoreData({Needed})",
    };
}
