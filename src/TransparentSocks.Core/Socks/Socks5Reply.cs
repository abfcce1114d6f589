using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>A server's answer to a request; <paramref name="Bound"/> is BND.ADDR:BND.PORT.</summary>
public readonly record struct Socks5Reply(Socks5ReplyCode Code, Destination Bound);
