using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// One client connection through the daemon's SOCKS5 server to a <see cref="PeerReportingTarget"/>: the reply, how
/// long the client waited for it, and the address the target saw (which upstream carried it).
/// </summary>
internal sealed class ServerHop : IDisposable
{
    public ServerHop(Socks5ReplyCode reply, IPAddress? via, TimeSpan waited, Socket? socket)
    {
        Reply = reply;
        Via = via;
        Waited = waited;
        Socket = socket;
    }

    public Socks5ReplyCode Reply { get; }

    /// <summary>The target's view of the connection's source: the upstream's outgoing address. Null on failure.</summary>
    public IPAddress? Via { get; }

    /// <summary>From the TCP connect to the server until its reply.</summary>
    public TimeSpan Waited { get; }

    /// <summary>The open tunnel, when the caller asked to keep it.</summary>
    public Socket? Socket { get; }

    public void Dispose() => Socket?.Dispose();
}

internal static class ServerClient
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Connects to <paramref name="server"/> (from <paramref name="source"/> when given), asks for
    /// <paramref name="target"/> and, on success, reads the target's line. The tunnel is closed unless
    /// <paramref name="keepOpen"/>. Throws when the server or the tunnel breaks.
    /// </summary>
    public static async Task<ServerHop> ConnectAsync(IPEndPoint server, IPEndPoint target, IPAddress? source = null, bool keepOpen = false)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            var clock = Stopwatch.StartNew();
            await socket.ConnectAsync(server).WaitAsync(ReadTimeout);
            var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromEndPoint(target));
            var waited = clock.Elapsed;
            IPAddress? via = null;
            if (reply.Code == Socks5ReplyCode.Succeeded)
            {
                via = IPAddress.Parse(await ReadLineAsync(socket));
            }

            if (!keepOpen)
            {
                socket.Dispose();
            }

            return new ServerHop(reply.Code, via, waited, keepOpen ? socket : null);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            var read = await socket.ReceiveAsync(one, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                throw new EndOfStreamException($"tunnel closed after '{line}'");
            }

            if (one[0] == '\n')
            {
                return line.ToString();
            }

            line.Append((char)one[0]);
        }
    }
}
