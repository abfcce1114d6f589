namespace TransparentSocks.Socks;

/// <summary>ATYP values of RFC 1928 section 4.</summary>
public enum Socks5AddressType : byte
{
    IPv4 = 1,
    DomainName = 3,
    IPv6 = 4,
}
