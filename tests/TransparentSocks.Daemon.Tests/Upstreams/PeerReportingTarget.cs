using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// A target that tells each connection, first thing, the address it came from (one line of text), then holds it
/// open until the client shuts down its write side. Each upstream dials from an address of its own, so the line
/// names the upstream that carried the connection.
/// </summary>
internal sealed class PeerReportingTarget : TcpTarget
{
    public PeerReportingTarget(IPAddress address)
        : base(address, 0)
    {
        StartAccepting();
    }

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var peer = (IPEndPoint)client.RemoteEndPoint!;
        await SendAllAsync(client, Encoding.ASCII.GetBytes($"{peer.Address}\n"), cancellationToken);
        await DrainAsync(client, cancellationToken);
    }
}
