using System.Net;
using System.Net.Sockets;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// A SOCKS5 server that accepts no-auth and answers every request with one failure <see cref="Code"/>, as an upstream
/// refusing its destinations does. It counts the requests it refused.
/// </summary>
internal sealed class RefusingSocks5Upstream : TcpTarget
{
    private int _requests;

    public RefusingSocks5Upstream(IPAddress address, byte code)
        : base(address, 0)
    {
        Code = code;
        StartAccepting();
    }

    public byte Code { get; }

    /// <summary>Requests (CONNECT or any other) answered with <see cref="Code"/>.</summary>
    public int Requests => Volatile.Read(ref _requests);

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var greeting = await ReadAsync(client, 2, cancellationToken);
        if (greeting is null)
        {
            return;
        }

        if (await ReadAsync(client, greeting[1], cancellationToken) is null)
        {
            return;
        }

        await SendAllAsync(client, new byte[] { 5, 0 }, cancellationToken);

        // VER CMD RSV ATYP, then the address (4, 1 + length, or 16 bytes) and the port.
        var head = await ReadAsync(client, 4, cancellationToken);
        if (head is null)
        {
            return; // A health check without a target stops after the greeting.
        }

        var addressLength = head[3] switch
        {
            1 => 4,
            4 => 16,
            _ => (await ReadAsync(client, 1, cancellationToken) ?? [0])[0],
        };
        if (await ReadAsync(client, addressLength + 2, cancellationToken) is null)
        {
            return;
        }

        Interlocked.Increment(ref _requests);
        await SendAllAsync(client, new byte[] { 5, Code, 0, 1, 0, 0, 0, 0, 0, 0 }, cancellationToken);
    }

    /// <summary>Exactly <paramref name="count"/> bytes, or null when the peer closed first.</summary>
    private static async Task<byte[]?> ReadAsync(Socket socket, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[count];
        var have = 0;
        while (have < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            have += read;
        }

        return buffer;
    }
}
