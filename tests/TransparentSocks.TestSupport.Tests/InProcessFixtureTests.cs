using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport.Tests;

/// <summary>
/// The fixtures that need no program but this one: the targets, the integrity helpers and the fd counter, on
/// loopback. Run alone (see <see cref="FdSensitive"/>) because the fd-count test counts the whole process.
/// </summary>
[Collection(nameof(FdSensitive))]
[Trait("Category", "Unit")]
public sealed class InProcessFixtureTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task IntegrityHelpers_Direct8MiBEachWay_HashesMatch()
    {
        const long Size = 8L * 1024 * 1024;
        await using var target = new HashTarget(IPAddress.Loopback, Size, seed: 2);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(target.EndPoint);

        var client = await IntegrityClient.RunAsync(socket, Size, seed: 1);
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, Wait));
        var server = Assert.Single(target.Results);

        Assert.Empty(target.Errors);
        Assert.Equal(Size, client.SentBytes);
        Assert.Equal(Size, client.ReceivedBytes);
        Assert.Equal(client.SentBytes, server.ReceivedBytes);
        Assert.Equal(client.SentSha256, server.ReceivedSha256);
        Assert.Equal(server.SentSha256, client.ReceivedSha256);
        Assert.Equal(PseudoRandomBytes.Sha256Hex(Size, seed: 1), client.SentSha256);
        Assert.Equal(PseudoRandomBytes.Sha256Hex(Size, seed: 2), server.SentSha256);
        Assert.NotEqual(client.SentSha256, server.SentSha256);
    }

    [Fact]
    public void PseudoRandomBytes_AnyChunking_SameStream()
    {
        var whole = new byte[1000];
        new PseudoRandomBytes(7).Fill(whole);
        var pieces = new byte[1000];
        var generator = new PseudoRandomBytes(7);
        var offset = 0;
        foreach (var length in new[] { 1, 3, 8, 13, 0, 500, 475 })
        {
            generator.Fill(pieces.AsSpan(offset, length));
            offset += length;
        }

        Assert.Equal(whole, pieces);
    }

    [Fact]
    public async Task EchoTarget_ClientHalfCloses_EchoesEverythingThenCloses()
    {
        await using var target = new EchoTarget(IPAddress.IPv6Loopback);
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(target.EndPoint);
        var payload = new byte[256 * 1024];
        new PseudoRandomBytes(3).Fill(payload);

        var sending = Task.Run(async () =>
        {
            await socket.SendAsync(payload, SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        });
        var echoed = await ReadToEndAsync(socket);
        await sending;

        Assert.Equal(payload, echoed);
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, Wait));
        Assert.Equal(payload.Length, target.EchoedBytes);
        Assert.Empty(target.Errors);
    }

    [Fact]
    public async Task FdCounter_SocketClosed_CountReturnsToBaseline()
    {
        var before = FdCounter.Count();
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var during = FdCounter.Count();
        socket.Dispose();

        var after = await FdCounter.WaitForAsync(before, Wait);

        Assert.True(during > before, $"{during} > {before}");
        Assert.True(after <= before, $"{after} <= {before}");
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (read == 0)
            {
                return received.ToArray();
            }

            received.Write(buffer, 0, read);
        }
    }
}
