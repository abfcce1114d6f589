using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>
/// The header of a UDP ASSOCIATE datagram (RFC 1928 section 7). The payload starts at
/// <paramref name="HeaderLength"/> in the datagram.
/// </summary>
public readonly record struct Socks5UdpHeader(byte Fragment, Destination Destination, int HeaderLength);

/// <summary>
/// Where an address lies in a message: its type, the offset and length of its bytes (the name without its length
/// byte, or the 4 or 16 address bytes), and the port.
/// </summary>
public readonly record struct Socks5AddressSpan(Socks5AddressType Type, int Offset, int Length, ushort Port);

/// <summary>
/// A UDP ASSOCIATE header read in place: FRAG, where the address lies (offsets from the datagram's start), and
/// where the payload starts. Reading one allocates nothing, which the relay needs once per datagram.
/// </summary>
public readonly record struct Socks5UdpFrame(byte Fragment, Socks5AddressSpan Address, int HeaderLength);
