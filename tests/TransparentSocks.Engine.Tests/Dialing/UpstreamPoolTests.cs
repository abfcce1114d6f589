using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>
/// The pool of pre-authenticated upstream connections: against danted and microsocks for the end-to-end path, and
/// against <see cref="FakeSocks5Upstream"/> where the test must see which handshake steps went over which connection.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UpstreamPoolTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FillTimeout = TimeSpan.FromSeconds(10);
    private readonly EventLoopGroup _loops = new(2);

    public void Dispose() => _loops.Dispose();

    [Theory]
    [InlineData("dante")]
    [InlineData("microsocks")]
    public async Task DialAsync_PoolFilledAgainstRealUpstreamWithAuth_IsPoolHitAndFetchesThroughIt(string server)
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "through the pool\n");
        IAsyncDisposable upstream;
        IPEndPoint endPoint;
        string user;
        string password;
        if (server == "dante")
        {
            var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true);
            (upstream, endPoint, user, password) = (dante, dante.EndPoint, Dante.Username, Dante.Password);
        }
        else
        {
            var microsocks = await Microsocks.StartAsync(IPAddress.Loopback, "mu", "mp-secret");
            (upstream, endPoint, user, password) = (microsocks, microsocks.EndPoint, "mu", "mp-secret");
        }

        await using (upstream)
        {
            await using var dialer = PooledDialer(endPoint, user, password, maxPoolSize: 4);

            Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 4), $"pooled {dialer.Stats.PooledIdle}");
            var body = await FetchAsync(dialer, Destination.FromEndPoint(target.EndPoint));

            Assert.EndsWith("through the pool\n", body, StringComparison.Ordinal);
            Assert.Equal(1, dialer.Stats.PoolHits);
            Assert.Equal(0, dialer.Stats.PoolMisses);
            Assert.Equal(1, dialer.Stats.Connections);
            Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 4), "the pool was not refilled after the take");
            Assert.Equal(5, dialer.Stats.PoolOpens);
        }
    }

    [Fact]
    public async Task DialAsync_PoolHit_SendsOnlyConnectOnAlreadyAuthenticatedConnection()
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp");
        await using var dialer = PooledDialer(upstream.EndPoint, "pu", "pp", maxPoolSize: 3);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 3));
        var before = upstream.Now;

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 443));

        using var socket = result.Socket;
        Assert.True(result.Succeeded, result.ToString());
        var used = Assert.Single(upstream.Connections, c => c.Requests > 0);
        Assert.Equal("192.0.2.7:443", used.Destination);
        Assert.Equal((1, 1, 1), (used.Greetings, used.Authentications, used.Requests));
        Assert.True(used.AuthenticatedAt <= before, $"authenticated at {used.AuthenticatedAt}, dial started at {before}");
        Assert.True(used.RequestedAt > before);
        Assert.Equal((1L, 0L), (dialer.Stats.PoolHits, dialer.Stats.PoolMisses));
        await AssertEchoesAsync(socket!);
    }

    [Fact]
    public async Task DialAsync_PoolMiss_DoesGreetingAuthenticationAndConnectOnFreshConnection()
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp");
        await using var dialer = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint(upstream.EndPoint),
            Username = "pu",
            Password = "pp",
            Pooling = true,
            MaxPoolSize = 2,
        });

        // Without PoolLoops the pool starts at the first dial, which therefore cannot be a hit.
        Assert.Equal(0, upstream.Accepted);
        var before = upstream.Now;
        var first = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));
        first.Socket?.Dispose();

        Assert.True(first.Succeeded, first.ToString());
        Assert.Equal((0L, 1L), (dialer.Stats.PoolHits, dialer.Stats.PoolMisses));
        var used = Assert.Single(upstream.Connections, c => c.Requests > 0);
        Assert.True(used.GreetedAt > before);
        Assert.Equal((1, 1, 1), (used.Greetings, used.Authentications, used.Requests));

        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));
        var second = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));
        second.Socket?.Dispose();
        Assert.True(second.Succeeded, second.ToString());
        Assert.Equal(1, dialer.Stats.PoolHits);
    }

    [Fact]
    public async Task DialAsync_UpstreamClosedPooledConnections_DiscardsThemAndDialsFresh()
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp");
        await using var dialer = PooledDialer(upstream.EndPoint, "pu", "pp", maxPoolSize: 3);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 3));
        Assert.Equal(3, upstream.CloseIdle());
        Assert.True(await WaitUntilAsync(() => upstream.Connections.All(c => c.Closed)));
        var before = upstream.Now;

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));

        using var socket = result.Socket;
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(3, dialer.Stats.PoolDiscarded);
        Assert.Equal((0L, 1L, 0L), (dialer.Stats.PoolHits, dialer.Stats.PoolMisses, dialer.Stats.PoolRetries));
        var used = Assert.Single(upstream.Connections, c => c.Requests > 0);
        Assert.True(used.GreetedAt > before, "the request went over a connection opened before the dial");
        await AssertEchoesAsync(socket!);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DialAsync_PooledConnectionDroppedAtConnect_RetriesOnceOnFreshConnection(bool reset)
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp");
        await using var dialer = PooledDialer(upstream.EndPoint, "pu", "pp", maxPoolSize: 2);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));
        upstream.DropNextRequests(1, reset);
        var before = upstream.Now;

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));

        using var socket = result.Socket;
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal((1L, 1L), (dialer.Stats.PoolHits, dialer.Stats.PoolRetries));
        var requested = upstream.Connections.Where(c => c.Requests > 0).ToList();
        Assert.Equal(2, requested.Count);
        Assert.True(requested[0].AuthenticatedAt <= before, "the first attempt should use a pooled connection");
        Assert.True(requested[1].GreetedAt > before, "the retry should use a fresh connection");
        await AssertEchoesAsync(socket!);
    }

    [Fact]
    public async Task DialAsync_PooledConnectionGetsFailureReply_FailsWithoutRetry()
    {
        await using var upstream = new FakeSocks5Upstream(username: "pu", password: "pp") { ConnectReply = Socks5ReplyCode.ConnectionRefused };
        await using var dialer = PooledDialer(upstream.EndPoint, "pu", "pp", maxPoolSize: 2);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));

        Assert.Equal(DialError.UpstreamRejected, result.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, result.UpstreamReply);
        Assert.Equal((1L, 0L), (dialer.Stats.PoolHits, dialer.Stats.PoolRetries));
        Assert.Single(upstream.Connections, c => c.Requests > 0);
        Assert.Equal(1, dialer.Stats.FailuresOf(DialError.UpstreamRejected));
        Assert.Equal(1, dialer.Stats.Failures);
    }

    [Fact]
    public async Task Pool_UpstreamDown_StaysEmptyBacksOffAndDialsFailFast()
    {
        var dead = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var dialer = PooledDialer(dead, null, null, maxPoolSize: 8);

        await Task.Delay(TimeSpan.FromSeconds(2));
        var clock = Stopwatch.StartNew();
        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, 80));
        clock.Stop();

        Assert.Equal(DialError.UpstreamUnavailable, result.Error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.Equal(0, dialer.Stats.PooledIdle);
        Assert.Equal(1, dialer.Stats.PoolMisses);

        // One probe at a time, 250 ms, 500 ms, 1 s apart: four in two seconds. Allow some slack, not a spin.
        Assert.InRange(dialer.Stats.PoolOpens, 1, 6);
        Assert.True(dialer.Stats.PoolOpenFailures >= dialer.Stats.PoolOpens - 1, "an open succeeded against a closed port");
    }

    [Fact]
    public async Task Pool_UpstreamClosesEveryConnection_ConnectionAttemptsStayBounded()
    {
        await using var upstream = new FakeSocks5Upstream(FakeUpstreamBehavior.CloseOnAccept);
        await using var dialer = PooledDialer(upstream.EndPoint, null, null, maxPoolSize: 8);

        await Task.Delay(TimeSpan.FromSeconds(2));

        Assert.Equal(0, dialer.Stats.PooledIdle);
        Assert.InRange(upstream.Accepted, 1, 6);
    }

    [Fact]
    public async Task Pool_UpstreamRecovers_RefillsAfterNextSuccessfulDial()
    {
        await using var upstream = new FakeSocks5Upstream(FakeUpstreamBehavior.CloseOnAccept);
        await using var dialer = PooledDialer(upstream.EndPoint, null, null, maxPoolSize: 3);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PoolOpenFailures >= 4));

        upstream.Behavior = FakeUpstreamBehavior.Serve;
        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));
        result.Socket?.Dispose();

        Assert.True(result.Succeeded, result.ToString());
        // The next probe would be at least 2 s away on the backoff alone; the dial's success cuts that short.
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 3, TimeSpan.FromSeconds(1.5)), $"pooled {dialer.Stats.PooledIdle}");
    }

    [Fact]
    public async Task Pool_IdleConnectionsExpire_AreClosedAndReplaced()
    {
        await using var upstream = new FakeSocks5Upstream();
        await using var dialer = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint(upstream.EndPoint),
            Pooling = true,
            MaxPoolSize = 2,
            PoolIdleTimeout = TimeSpan.FromMilliseconds(400),
            PoolLoops = _loops,
        });
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));
        var first = upstream.Connections.Take(2).ToList();

        Assert.True(await WaitUntilAsync(() => first.All(c => c.Closed)), "expired connections were not closed");
        Assert.True(dialer.Stats.PoolDiscarded >= 2);
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2 && upstream.Connections.Count >= 4));
        Assert.All(upstream.Connections, c => Assert.Equal(0, c.Requests));
    }

    [Fact]
    public async Task Pool_IdleTimeoutOnItsClock_ExpiresOnlyWhenTheClockPassesIt()
    {
        var clock = new FakeTimeProvider();
        await using var upstream = new FakeSocks5Upstream();
        await using var dialer = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint(upstream.EndPoint),
            Pooling = true,
            MaxPoolSize = 2,
            PoolIdleTimeout = TimeSpan.FromMinutes(10),
            PoolLoops = _loops,
            Time = clock,
        });
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));
        var first = upstream.Connections.Take(2).ToList();

        clock.Advance(TimeSpan.FromMinutes(9));
        await Task.Delay(200);
        Assert.All(first, c => Assert.False(c.Closed, "expired before its idle timeout"));
        Assert.Equal(0, dialer.Stats.PoolDiscarded);

        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True(await WaitUntilAsync(() => first.All(c => c.Closed)), "expired connections were not closed");
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2 && upstream.Connections.Count >= 4));
    }

    [Fact]
    public async Task Pool_WithMark_SetsSoMarkOnPooledSockets()
    {
        await using var upstream = new FakeSocks5Upstream();
        await using var dialer = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint(upstream.EndPoint),
            Pooling = true,
            MaxPoolSize = 2,
            PoolLoops = _loops,
            Mark = 0x2a,
        });
        Assert.True(await WaitUntilAsync(() => dialer.Stats.PooledIdle == 2));

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80));

        using var socket = result.Socket;
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(1, dialer.Stats.PoolHits);
        Assert.Equal(0x2a, socket!.GetOption(1, 36));
    }

    [Fact]
    public async Task DirectDialer_Stats_CountAttemptsSuccessesAndFailures()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        var dialer = new DirectDialer(TimeSpan.FromSeconds(5));
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);

        var ok = await DialAsync(dialer, Destination.FromEndPoint(target.EndPoint));
        ok.Socket?.Dispose();
        var refused = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, closedPort));

        Assert.Equal(DialError.Refused, refused.Error);
        Assert.Equal((2L, 1L, 1L), (dialer.Stats.Dials, dialer.Stats.Connections, dialer.Stats.Failures));
        Assert.Equal(1, dialer.Stats.FailuresOf(DialError.Refused));
        Assert.Contains((DialError.Refused, 1L), dialer.Stats.FailureBreakdown());
    }

    [Fact]
    public void Constructor_PoolingWithoutRoom_Throws()
        => Assert.Throws<ArgumentException>(() => new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromAddress(IPAddress.Loopback, 1080),
            Pooling = true,
            MaxPoolSize = 0,
        }));

    private Socks5Dialer PooledDialer(IPEndPoint server, string? user, string? password, int maxPoolSize) => new(new Socks5DialerSettings
    {
        Server = Destination.FromEndPoint(server),
        Username = user,
        Password = password,
        Pooling = true,
        MaxPoolSize = maxPoolSize,
        PoolLoops = _loops,
    });

    private static Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
        => FakeSocks5Upstream.WaitUntilAsync(condition, timeout ?? FillTimeout);

    private async Task<DialResult> DialAsync(IDialer dialer, Destination destination)
        => await dialer.DialAsync(new DialRequest(destination, _loops.Next(), null)).AsTask().WaitAsync(Timeout);

    private static async Task AssertEchoesAsync(Linux.Sockets.LinuxSocket socket)
    {
        var payload = "ping through the pool"u8.ToArray();
        var sent = await socket.SendAsync(payload);
        Assert.False(sent.HasError, sent.ToString());
        socket.SetTimeout(Timeout);
        var buffer = new byte[payload.Length];
        for (var filled = 0; filled < buffer.Length;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled));
            Assert.False(read.HasError, read.ToString());
            Assert.NotEqual(0, read.Bytes);
            filled += read.Bytes;
        }

        Assert.Equal(payload, buffer);
    }

    private async Task<string> FetchAsync(IDialer dialer, Destination destination)
        => await DialedHttp.GetAsync(await DialAsync(dialer, destination), "/pool", Timeout);
}
