using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Tests.Relay;

[Trait("Category", "Unit")]
public sealed class SocketRelayTests
{
    private const long SixtyFourMiB = 64L << 20;

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task RunAsync_64MiBEachWay_BothStreamsArriveIntact(RelayMode engine)
    {
        await using var h = await RelayHarness.StartAsync(new RelaySettings { Mode = engine });

        var clientSide = PumpAsync(h.Client, SixtyFourMiB, seed: 1);
        var targetSide = PumpAsync(h.Target, SixtyFourMiB, seed: 2);
        var results = await Task.WhenAll(clientSide, targetSide).WaitAsync(TimeSpan.FromMinutes(2));
        var relay = await h.Relay!.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SixtyFourMiB, results[1].Received);
        Assert.Equal(SixtyFourMiB, results[0].Received);
        Assert.Equal(results[0].SentHash, results[1].ReceivedHash);
        Assert.Equal(results[1].SentHash, results[0].ReceivedHash);
        Assert.Equal(RelayOutcome.Completed, relay.Outcome);
        Assert.Equal(SixtyFourMiB, relay.BytesUp);
        Assert.Equal(SixtyFourMiB, relay.BytesDown);
        Assert.Equal(engine == RelayMode.Splice, relay.Spliced);
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task RunAsync_ClientShutsWriteSide_ResponseAfterEofStillDelivered(RelayMode engine)
    {
        await using var h = await RelayHarness.StartAsync(new RelaySettings { Mode = engine });

        await h.Client.SendAsync(Encoding.ASCII.GetBytes("request body"));
        h.Client.Shutdown(SocketShutdown.Send);

        // The target sees EOF only because the relay turned the client's FIN into shutdown(SHUT_WR).
        var request = await ReadToEndAsync(h.Target).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("request body", Encoding.ASCII.GetString(request));

        var response = new byte[3 << 20];
        Random.Shared.NextBytes(response);
        await h.Target.SendAsync(response);
        h.Target.Shutdown(SocketShutdown.Send);

        var received = await ReadToEndAsync(h.Client).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(received));
        var relay = await h.Relay!.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RelayOutcome.Completed, relay.Outcome);
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task RunAsync_TargetResets_ReportsUpstreamError(RelayMode engine)
    {
        await using var h = await RelayHarness.StartAsync(new RelaySettings { Mode = engine });

        await h.Client.SendAsync(new byte[] { 1, 2, 3 });
        var buffer = new byte[16];
        Assert.Equal(3, await h.Target.ReceiveAsync(buffer));
        h.Target.LingerState = new LingerOption(true, 0);
        h.Target.Close();

        // The relay says which side failed; turning that into a reset for the client is the pipeline's (ConnectionPipelineTests).
        var relay = await h.Relay!.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(RelayOutcome.UpstreamError, relay.Outcome);
        Assert.Equal(3, relay.BytesUp);
    }

    [Fact]
    public async Task RunAsync_NoTrafficForIdleTimeout_EndsWithIdleTimeout()
    {
        await using var h = await RelayHarness.StartAsync(new RelaySettings { IdleTimeout = TimeSpan.FromMilliseconds(600) });

        await h.Client.SendAsync(new byte[] { 42 });
        var relay = await h.Relay!.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RelayOutcome.IdleTimeout, relay.Outcome);
        Assert.Equal(1, relay.BytesUp);
    }

    [Fact]
    public async Task RunAsync_AbortedFromOutside_EndsAsAborted()
    {
        await using var h = await RelayHarness.StartAsync(new RelaySettings());

        h.Inbound.Abort(Errno.ECANCELED);
        var relay = await h.Relay!.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RelayOutcome.Aborted, relay.Outcome);
    }

    private static async Task<(long Received, byte[] ReceivedHash, byte[] SentHash)> PumpAsync(Socket socket, long toSend, int seed)
    {
        var sendTask = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var rng = new Random(seed);
            var chunk = new byte[256 * 1024];
            var remaining = toSend;
            while (remaining > 0)
            {
                var n = (int)Math.Min(chunk.Length, remaining);
                rng.NextBytes(chunk.AsSpan(0, n));
                hash.AppendData(chunk, 0, n);
                await socket.SendAsync(chunk.AsMemory(0, n));
                remaining -= n;
            }

            socket.Shutdown(SocketShutdown.Send);
            return hash.GetHashAndReset();
        });

        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        long total = 0;
        int r;
        while ((r = await socket.ReceiveAsync(buffer)) > 0)
        {
            received.AppendData(buffer, 0, r);
            total += r;
        }

        return (total, received.GetHashAndReset(), await sendTask);
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int r;
        while ((r = await socket.ReceiveAsync(buffer)) > 0)
        {
            ms.Write(buffer, 0, r);
        }

        return ms.ToArray();
    }
}
