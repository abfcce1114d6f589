namespace TransparentSocks.Socks;

/// <summary>Why a SOCKS5 message was refused.</summary>
public enum Socks5ParseError : byte
{
    /// <summary>Nothing is wrong; the value of every result that is not Invalid.</summary>
    None,

    /// <summary>VER is not 0x05 (a SOCKS4 client, or not SOCKS at all).</summary>
    BadVersion,

    /// <summary>A greeting with NMETHODS = 0 offers nothing the server could select.</summary>
    NoMethods,

    /// <summary>The username/password sub-negotiation (RFC 1929) did not start with VER 0x01.</summary>
    BadAuthVersion,

    /// <summary>ULEN is 0; RFC 1929 requires 1 to 255 bytes.</summary>
    EmptyUsername,

    /// <summary>PLEN is 0; RFC 1929 requires 1 to 255 bytes.</summary>
    EmptyPassword,

    /// <summary>CMD is not CONNECT, BIND or UDP ASSOCIATE; the server answers with reply 0x07.</summary>
    UnknownCommand,

    /// <summary>A reserved byte (RSV in a request or reply, the two RSV bytes of a UDP header) is not zero.</summary>
    ReservedNotZero,

    /// <summary>ATYP is not 0x01, 0x03 or 0x04; the server answers with reply 0x08.</summary>
    UnknownAddressType,

    /// <summary>A DOMAINNAME address with a length byte of 0.</summary>
    EmptyDomain,

    /// <summary>REP in a server reply is above 0x08.</summary>
    BadReplyCode,

    /// <summary>A client greeting offers 0xFF, which is the server's "no acceptable methods" answer, not a method.</summary>
    BadMethod,

    /// <summary>
    /// Not produced by the codec, which reports FRAG as it is; for callers that refuse fragmented UDP datagrams
    /// (RFC 1928 section 7 lets an implementation that does not reassemble drop them).
    /// </summary>
    FragmentNotSupported,

    /// <summary>
    /// A DOMAINNAME contains a byte that no host name has and that could confuse a resolver or a log:
    /// a control character, a space, DEL or '/'; or it is an IP literal with a zone, such as "fe80::1%2".
    /// </summary>
    BadDomain,
}
