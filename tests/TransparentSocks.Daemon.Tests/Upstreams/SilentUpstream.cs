using System.Net;
using System.Net.Sockets;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>Accepts TCP and never sends a byte: an upstream stuck before its SOCKS5 greeting.</summary>
internal sealed class SilentUpstream : TcpTarget
{
    public SilentUpstream(IPAddress address)
        : base(address, 0)
    {
        StartAccepting();
    }

    protected override Task HandleAsync(Socket client, CancellationToken cancellationToken) => DrainAsync(client, cancellationToken);
}
