using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>
/// How a relayed session ends, seen by a real client of the SOCKS5 server: a destination's clean FIN stays a clean
/// end, a reset is passed on as a reset and counted as the upstream's failure, and every byte is counted exactly.
/// </summary>
[Trait("Category", "Integration")]
public sealed class Socks5ServerRelayEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>A destination that sends <paramref name="bytes"/> bytes and then ends as the test says.</summary>
    private static (IPEndPoint EndPoint, Task Served) Target(int bytes, bool reset)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        var served = Task.Run(async () =>
        {
            using (listener)
            {
                using var peer = await listener.AcceptAsync().WaitAsync(Timeout);
                await peer.SendAsync(new byte[bytes]).WaitAsync(Timeout);
                if (reset)
                {
                    // Give the bytes time to leave, then cut: SO_LINGER 0 makes close send RST.
                    await Task.Delay(200);
                    peer.LingerState = new LingerOption(true, 0);
                }
                else
                {
                    peer.Shutdown(SocketShutdown.Send);
                    var buffer = new byte[64];
                    while (await peer.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout) > 0)
                    {
                    }
                }

                peer.Close();
            }
        });
        return (endPoint, served);
    }

    private static async Task<(long Received, SocketError Error)> ReadUntilEndAsync(Socket client)
    {
        var buffer = new byte[64 * 1024];
        var received = 0L;
        try
        {
            int n;
            while ((n = await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout)) > 0)
            {
                received += n;
            }

            return (received, SocketError.Success);
        }
        catch (SocketException ex)
        {
            return (received, ex.SocketErrorCode);
        }
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task Relay_DestinationResetsMidDownload_ClientGetsResetAndItCountsAsUpstreamFailure(RelayMode mode)
    {
        var log = new ListLogger();
        var (endPoint, served) = Target(200_000, reset: true);
        await using var server = ServerHarness.Start(engine: mode, logger: log);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(endPoint))).Code);

        var (received, error) = await ReadUntilEndAsync(client);
        await served;

        // A cut download must not look complete: what came, then ECONNRESET, never EOF.
        Assert.Equal(SocketError.ConnectionReset, error);
        Assert.True(received <= 200_000, $"{received} bytes");
        Assert.True(await Poll.UntilAsync(() => server.Server.Stats.UpstreamFailures == 1, Timeout), "the cut was not counted as the upstream's");
        Assert.Equal(0, server.Server.Stats.Completed);
        Assert.Contains(log.Entries, e => e.Id.Id == 1022 && e.Message.Contains("UpstreamError", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Entries, e => e.Id.Id == 1022 && e.Message.Contains("completed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task Relay_DestinationHalfClosesCleanly_ClientGetsEofAndItCountsAsCompleted(RelayMode mode)
    {
        var (endPoint, served) = Target(200_000, reset: false);
        await using var server = ServerHarness.Start(engine: mode);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(endPoint))).Code);

        // The destination's FIN is a half-close: the client reads to EOF, then ends its own direction.
        Assert.Equal((200_000L, SocketError.Success), await ReadUntilEndAsync(client));
        client.Shutdown(SocketShutdown.Send);
        await served;

        Assert.True(await Poll.UntilAsync(() => server.Server.Stats.Completed == 1, Timeout), "the clean end was not counted as completed");
        Assert.Equal(0, server.Server.Stats.UpstreamFailures);
        Assert.Equal(200_000, server.Server.Stats.ClosedBytesDown);
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task Counters_DataPipelinedBeforeTheReply_EqualWhatTheDestinationReceived(RelayMode mode)
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(engine: mode);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var request = new byte[Socks5Codec.MaxRequestLength];
        var n = Socks5Codec.WriteRequest(request, Socks5Command.Connect, Destination.FromEndPoint(target.EndPoint));
        var early = new byte[300];
        Random.Shared.NextBytes(early);

        // Greeting, request and 300 bytes for the destination in one write, before any reply.
        byte[] all = [5, 1, 0, .. request.AsSpan(0, n), .. early];
        await client.SendAsync(all);
        Assert.Equal(new byte[] { 5, 0 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.ReadReplyAsync(client)).Code);
        await client.SendAsync(new byte[700]);
        Assert.Equal(early, (await Socks5TestClient.ReadExactlyAsync(client, 1000))[..300]);

        // Live, as show sessions and the inbound's stats read them, then once closed.
        // The relay counts a chunk once its write returns, which can be just after the peer has read it.
        var session = Assert.Single(server.Sessions.Snapshot());
        Assert.Equal(1000, target.EchoedBytes);
        Assert.True(await Poll.UntilAsync(() => session.Counters.BytesUp == 1000 && session.Counters.BytesDown == 1000, Timeout),
            $"live counters {session.Counters.BytesUp} up / {session.Counters.BytesDown} down, 1000 each way moved");
        Assert.Equal((1000L, 1000L), server.Sessions.BytesOf(server.Server.Stats));

        client.Shutdown(SocketShutdown.Send);
        Assert.Equal((0L, SocketError.Success), await ReadUntilEndAsync(client));
        Assert.True(await Poll.UntilAsync(() => server.Sessions.Count == 0, Timeout), "the session did not close");
        Assert.Equal(1000, server.Server.Stats.ClosedBytesUp);
        Assert.Equal(1000, server.Server.Stats.ClosedBytesDown);
    }
}
