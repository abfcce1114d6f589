using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A minimal SOCKS5 client for tests, built on the codec, over a plain .NET socket, so tests can drive the server
/// byte by byte and also speak the protocol correctly when they just need a tunnel.
/// </summary>
public static class Socks5TestClient
{
    public static async Task<Socket> ConnectAsync(IPEndPoint proxy)
    {
        var socket = new Socket(proxy.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy).WaitAsync(TimeSpan.FromSeconds(10));
        return socket;
    }

    /// <summary>
    /// Runs greeting, optional auth and the request (CONNECT unless <paramref name="command"/> says otherwise) with the
    /// product's own client state machine, reading exactly what it asks for; returns the reply. Throws if the server
    /// breaks the protocol or refuses the method or credentials.
    /// </summary>
    public static async Task<Socks5Reply> HandshakeAsync(
        Socket socket,
        Destination destination,
        string? user = null,
        string? password = null,
        Socks5Command command = Socks5Command.Connect)
    {
        var handshake = user is null
            ? new Socks5ClientHandshake()
            : new Socks5ClientHandshake(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password ?? string.Empty));
        var output = new byte[Socks5ClientHandshake.MaxOutputLength];
        var step = await ExchangeAsync(socket, handshake, output, handshake.WriteGreeting(output));
        if (step.Status != Socks5ClientStatus.Authenticated)
        {
            throw new InvalidOperationException($"handshake failed before the request: {step}");
        }

        step = await ExchangeAsync(socket, handshake, output, handshake.WriteRequest(output, command, destination));
        return step.Status switch
        {
            Socks5ClientStatus.Succeeded => new Socks5Reply(Socks5ReplyCode.Succeeded, step.Bound),
            Socks5ClientStatus.Failed when step.Failure == Socks5ClientFailure.Rejected => new Socks5Reply(step.Reply, default),
            _ => throw new InvalidOperationException($"bad reply: {step}"),
        };
    }

    /// <summary>Reads one reply to a request the test wrote itself.</summary>
    public static async Task<Socks5Reply> ReadReplyAsync(Socket socket)
    {
        var handshake = Socks5ClientHandshake.Resume();
        var output = new byte[Socks5ClientHandshake.MaxOutputLength];
        handshake.WriteRequest(output, Socks5Command.Connect, Destination.FromAddress(IPAddress.Loopback, 1));
        var step = await ExchangeAsync(socket, handshake, output, toSend: 0);
        return step.Status switch
        {
            Socks5ClientStatus.Succeeded => new Socks5Reply(Socks5ReplyCode.Succeeded, step.Bound),
            Socks5ClientStatus.Failed when step.Failure == Socks5ClientFailure.Rejected => new Socks5Reply(step.Reply, default),
            _ => throw new InvalidOperationException($"bad reply: {step}"),
        };
    }

    private static async Task<Socks5ClientStep> ExchangeAsync(Socket socket, Socks5ClientHandshake handshake, byte[] output, int toSend)
    {
        while (true)
        {
            if (toSend > 0)
            {
                await socket.SendAsync(output.AsMemory(0, toSend));
            }

            var received = new List<byte>();
            while (true)
            {
                var step = handshake.Feed(received.ToArray(), output);
                if (step.Status == Socks5ClientStatus.NeedMoreData)
                {
                    received.AddRange(await ReadExactlyAsync(socket, step.Count));
                    continue;
                }

                if (step.Status != Socks5ClientStatus.Send)
                {
                    return step;
                }

                toSend = step.Count;
                break;
            }
        }
    }

    public static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
            if (n == 0)
            {
                throw new EndOfStreamException($"closed after {read} of {count} bytes");
            }

            read += n;
        }

        return buffer;
    }

    /// <summary>Reads until EOF (or reset, reported as <see cref="SocketException"/>), bounded by <paramref name="timeout"/>.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var ms = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            ms.Write(buffer, 0, n);
        }

        return ms.ToArray();
    }
}
