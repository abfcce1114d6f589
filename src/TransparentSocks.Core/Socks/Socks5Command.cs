namespace TransparentSocks.Socks;

/// <summary>CMD values of RFC 1928 section 4.</summary>
public enum Socks5Command : byte
{
    Connect = 1,
    Bind = 2,
    UdpAssociate = 3,
}
