namespace TransparentSocks.Socks;

/// <summary>The outcome of feeding bytes to one of the <see cref="Socks5Codec"/> parsers.</summary>
public enum ParseStatus : byte
{
    /// <summary>The bytes so far are a valid prefix; read more and parse again from the same start.</summary>
    NeedMoreData,

    /// <summary>A whole message was parsed; <see cref="ParseResult{T}.Consumed"/> says how long it was.</summary>
    Done,

    /// <summary>The bytes can never become a valid message; <see cref="ParseResult{T}.Error"/> says why.</summary>
    Invalid,
}
