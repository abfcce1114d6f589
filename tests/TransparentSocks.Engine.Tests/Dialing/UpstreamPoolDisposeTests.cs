using System.Diagnostics;
using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Tests.Inbound;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>
/// A disposed pooling dialer leaves no socket, fd or background open behind. Run alone (see <see cref="FdSensitive"/>)
/// so the process-wide fd count means something.
/// </summary>
[Collection(nameof(FdSensitive))]
[Trait("Category", "Unit")]
public sealed class UpstreamPoolDisposeTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly EventLoopGroup _loops = new(2);

    public void Dispose() => _loops.Dispose();

    [Fact]
    public async Task DisposeAsync_FullPool_ClosesEverySocketAndStopsRefilling()
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp");
        var before = FdCounter.Count();
        var dialer = Dialer(upstream.EndPoint, maxPoolSize: 4);
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => dialer.Stats.PooledIdle == 4, Wait));
        Assert.Equal(4, _loops.RegisteredCount);

        await dialer.DisposeAsync();

        Assert.Equal(0, _loops.RegisteredCount);
        Assert.Equal(0, dialer.Stats.PooledIdle);
        Assert.True(dialer.Pool!.Pump!.IsCompleted);
        var opens = dialer.Stats.PoolOpens;
        var accepted = upstream.Accepted;
        var after = await FdCounter.WaitForAsync(before, Wait);
        Assert.True(after <= before, $"fds before {before}, after {after}");
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => upstream.Connections.All(c => c.Closed), Wait));

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(opens, dialer.Stats.PoolOpens);
        Assert.Equal(accepted, upstream.Accepted);
    }

    [Fact]
    public async Task DisposeAsync_OpensStuckInHandshake_AbortsThemAtOnce()
    {
        await using var upstream = new FakeSocks5Upstream(FakeUpstreamBehavior.Silent);
        var before = FdCounter.Count();
        var dialer = Dialer(upstream.EndPoint, maxPoolSize: 4);

        // The first open waits for a greeting reply that never comes; the handshake deadline is 10 s away.
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => upstream.Accepted >= 1, Wait));
        var clock = Stopwatch.StartNew();
        await dialer.DisposeAsync();
        clock.Stop();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"dispose took {clock.Elapsed}");
        Assert.Equal(0, _loops.RegisteredCount);
        Assert.Equal(0, dialer.Stats.PoolOpenFailures);
        var after = await FdCounter.WaitForAsync(before, Wait);
        Assert.True(after <= before, $"fds before {before}, after {after}");
    }

    [Fact]
    public async Task Dispose_FullPool_ClosesIdleSocketsAtOnce()
    {
        await using var upstream = new FakeSocks5Upstream();
        var before = FdCounter.Count();
        var dialer = Dialer(upstream.EndPoint, maxPoolSize: 3);
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => dialer.Stats.PooledIdle == 3, Wait));

        dialer.Dispose();

        Assert.Equal(0, _loops.RegisteredCount);
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => dialer.Pool!.Pump!.IsCompleted, Wait));
        var after = await FdCounter.WaitForAsync(before, Wait);
        Assert.True(after <= before, $"fds before {before}, after {after}");
    }

    [Fact]
    public async Task DialAsync_AfterDispose_StillDialsWithoutPool()
    {
        await using var upstream = new FakeSocks5Upstream();
        var dialer = Dialer(upstream.EndPoint, maxPoolSize: 2);
        Assert.True(await FakeSocks5Upstream.WaitUntilAsync(() => dialer.Stats.PooledIdle == 2, Wait));
        await dialer.DisposeAsync();
        var opens = dialer.Stats.PoolOpens;

        var result = await dialer.DialAsync(new DialRequest(Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80), _loops.Next(), null));
        result.Socket?.Dispose();

        Assert.True(result.Succeeded, result.ToString());
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(opens, dialer.Stats.PoolOpens);
        Assert.Equal(0, _loops.RegisteredCount);
    }

    private Socks5Dialer Dialer(IPEndPoint server, int maxPoolSize) => new(new Socks5DialerSettings
    {
        Server = Destination.FromEndPoint(server),
        Username = "pu",
        Password = "pp",
        Pooling = true,
        MaxPoolSize = maxPoolSize,
        PoolLoops = _loops,
    });
}
