namespace TransparentSocks.Socks;

/// <summary>REP values of RFC 1928 section 6.</summary>
public enum Socks5ReplyCode : byte
{
    Succeeded = 0,
    GeneralFailure = 1,
    NotAllowedByRuleset = 2,
    NetworkUnreachable = 3,
    HostUnreachable = 4,
    ConnectionRefused = 5,
    TtlExpired = 6,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}
