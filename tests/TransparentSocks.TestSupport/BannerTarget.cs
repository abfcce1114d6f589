using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A server that speaks first, as SMTP and SSH do: it sends <see cref="Banner"/> the moment it accepts, before the
/// client has said anything, then echoes what the client sends until the client shuts down its write side.
/// </summary>
public sealed class BannerTarget : TcpTarget
{
    private readonly byte[] _banner;

    public BannerTarget(IPAddress address, string banner, int port = 0)
        : base(address, port)
    {
        Banner = banner;
        _banner = Encoding.ASCII.GetBytes(banner);
        StartAccepting();
    }

    public string Banner { get; }

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        await SendAllAsync(client, _banner, cancellationToken);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                break;
            }

            await SendAllAsync(client, buffer.AsMemory(0, read), cancellationToken);
        }

        client.Shutdown(SocketShutdown.Send);
    }
}
