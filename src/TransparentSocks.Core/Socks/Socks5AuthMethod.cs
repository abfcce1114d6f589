namespace TransparentSocks.Socks;

/// <summary>METHOD values of RFC 1928 section 3. Other byte values (IANA-assigned, private) pass through as unnamed values.</summary>
public enum Socks5AuthMethod : byte
{
    NoAuthentication = 0x00,
    Gssapi = 0x01,
    UsernamePassword = 0x02,

    /// <summary>Sent by a server to refuse every method the client offered; never offered by a client.</summary>
    NoAcceptable = 0xFF,
}
