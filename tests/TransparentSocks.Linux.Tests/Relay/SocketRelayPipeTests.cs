using System.Security.Cryptography;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Tests.Relay;

/// <summary>
/// Alone in its collection: it counts the pipes rented process-wide, which a relay test running beside it would move.
/// </summary>
[CollectionDefinition(nameof(SocketRelayPipeTests), DisableParallelization = true)]
public sealed class SocketRelayPipeCollection;

[Collection(nameof(SocketRelayPipeTests))]
[Trait("Category", "Unit")]
public sealed class SocketRelayPipeTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Splice_IdleSession_HoldsNoPipe_AndAStalledTransferHoldsOneUntilItDrains()
    {
        var baseline = PipePair.Rented;
        await using var h = await RelayHarness.StartAsync(new RelaySettings { Mode = RelayMode.Splice });

        // Bytes both ways, then quiet: both directions park on their source with an empty pipe.
        await h.Client.SendAsync(new byte[] { 1 });
        await ReceiveExactlyAsync(h.Target, 1);
        await h.Target.SendAsync(new byte[] { 2 });
        await ReceiveExactlyAsync(h.Client, 1);
        Assert.True(await WaitForAsync(() => PipePair.Rented == baseline), $"an idle session holds {PipePair.Rented - baseline} pipe(s)");

        // The target stops reading: the upstream direction's pipe fills behind a full socket and stays out.
        var payload = RandomNumberGenerator.GetBytes(16 << 20);
        var sending = h.Client.SendAsync(payload);
        Assert.True(await WaitForAsync(() => PipePair.Rented == baseline + 1), $"a stalled transfer holds {PipePair.Rented - baseline} pipe(s)");

        var received = await ReceiveExactlyAsync(h.Target, payload.Length).WaitAsync(TimeSpan.FromSeconds(30));
        await sending;
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(received));
        Assert.True(await WaitForAsync(() => PipePair.Rented == baseline), $"after the transfer drained {PipePair.Rented - baseline} pipe(s) are held");
        Assert.False(h.Relay!.IsCompleted);
        Assert.Equal(1 + payload.Length, h.Counters.BytesUp);
    }

    private static async Task<bool> WaitForAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Settle;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    private static async Task<byte[]> ReceiveExactlyAsync(System.Net.Sockets.Socket socket, int count)
    {
        var buffer = new byte[count];
        var have = 0;
        while (have < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(have));
            Assert.True(n > 0, $"EOF after {have} of {count} bytes");
            have += n;
        }

        return buffer;
    }
}
