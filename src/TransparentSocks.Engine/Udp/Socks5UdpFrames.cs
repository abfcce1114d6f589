using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Udp;

/// <summary>What both ends of a SOCKS5 UDP relay accept: our server from its client, our client from its upstream.</summary>
internal static class Socks5UdpFrames
{
    /// <summary>
    /// Parses the header of a received datagram; null when the datagram can be relayed, else why it is dropped.
    /// Neither end reassembles, so a fragment is dropped, as RFC 1928 allows an implementation that does not.
    /// </summary>
    public static UdpDropReason? Parse(ReadOnlySpan<byte> datagram, out Socks5UdpFrame frame)
    {
        var parsed = Socks5Codec.ParseUdpFrame(datagram);
        frame = parsed.Value;
        if (!parsed.IsDone)
        {
            return UdpDropReason.Malformed;
        }

        return frame.Fragment != 0 ? UdpDropReason.Fragmented : null;
    }
}
