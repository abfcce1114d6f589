using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>A client's request: what to do and where to.</summary>
public readonly record struct Socks5Request(Socks5Command Command, Destination Destination);
