using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Echoes every byte back until the client shuts down its write side, then shuts down its own write
/// side and closes, so a half-closing client still gets everything.
/// </summary>
public sealed class EchoTarget : TcpTarget
{
    private long _echoedBytes;

    public EchoTarget(IPAddress address, int port = 0)
        : base(address, port)
    {
        StartAccepting();
    }

    /// <summary>Bytes echoed over all connections.</summary>
    public long EchoedBytes => Interlocked.Read(ref _echoedBytes);

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                break;
            }

            await SendAllAsync(client, buffer.AsMemory(0, read), cancellationToken);
            Interlocked.Add(ref _echoedBytes, read);
        }

        client.Shutdown(SocketShutdown.Send);
    }
}
