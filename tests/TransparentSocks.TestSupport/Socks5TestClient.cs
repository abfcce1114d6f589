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

    /// <summary>Runs greeting, optional auth and CONNECT; returns the reply. Throws if the server breaks protocol.</summary>
    public static async Task<Socks5Reply> HandshakeAsync(Socket socket, Destination destination, string? user = null, string? password = null)
    {
        var buffer = new byte[600];
        var method = user is null ? Socks5AuthMethod.NoAuthentication : Socks5AuthMethod.UsernamePassword;
        var n = Socks5Codec.WriteGreeting(buffer, [method]);
        await socket.SendAsync(buffer.AsMemory(0, n));
        var selection = Socks5Codec.ParseMethodSelection(await ReadExactlyAsync(socket, 2));
        if (!selection.IsDone || selection.Value != method)
        {
            throw new InvalidOperationException($"server selected {selection.Value} ({selection.Status})");
        }

        if (user is not null)
        {
            n = Socks5Codec.WriteUsernamePassword(buffer, Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password ?? string.Empty));
            await socket.SendAsync(buffer.AsMemory(0, n));
            var auth = Socks5Codec.ParseAuthReply(await ReadExactlyAsync(socket, 2));
            if (!auth.IsDone || !auth.Value)
            {
                throw new InvalidOperationException("authentication refused");
            }
        }

        n = Socks5Codec.WriteRequest(buffer, Socks5Command.Connect, destination);
        await socket.SendAsync(buffer.AsMemory(0, n));
        return await ReadReplyAsync(socket);
    }

    public static async Task<Socks5Reply> ReadReplyAsync(Socket socket)
    {
        var head = await ReadExactlyAsync(socket, 5);
        var rest = head[3] switch { 1 => 5, 4 => 17, 3 => head[4] + 2, _ => throw new InvalidOperationException($"ATYP {head[3]}") };
        var all = head.Concat(await ReadExactlyAsync(socket, rest)).ToArray();
        var reply = Socks5Codec.ParseReply(all);
        return reply.IsDone ? reply.Value : throw new InvalidOperationException($"bad reply: {reply.Error}");
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
