using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>
/// The header of a UDP ASSOCIATE datagram (RFC 1928 section 7). The payload starts at
/// <paramref name="HeaderLength"/> in the datagram.
/// </summary>
public readonly record struct Socks5UdpHeader(byte Fragment, Destination Destination, int HeaderLength);
