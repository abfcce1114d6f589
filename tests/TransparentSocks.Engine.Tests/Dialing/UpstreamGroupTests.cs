using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.TestSupport;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>Groups of real upstreams (microsocks) on loopback: policies, retry before relay, passive and active health.</summary>
[Trait("Category", "Integration")]
public sealed class UpstreamGroupTests : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly Loop _loop = new("ts-test-group");
    private readonly HttpTarget _target = new(IPAddress.Loopback, "through the group\n");

    public async ValueTask DisposeAsync()
    {
        await _target.DisposeAsync();
        _loop.Dispose();
    }

    private static Socks5Dialer Member(Microsocks upstream) => new(new Socks5DialerSettings
    {
        Server = Destination.FromEndPoint(upstream.EndPoint), ConnectTimeout = TimeSpan.FromSeconds(2), HandshakeTimeout = TimeSpan.FromSeconds(2),
    });

    private static UpstreamGroup Group(GroupPolicy policy, HealthCheckSettings? health, params (string, IDialer)[] members)
        => new("main", policy, members, health ?? HealthCheckSettings.Default with { Interval = TimeSpan.FromHours(1) }, TimeSpan.FromSeconds(5), NullLogger.Instance);

    /// <summary>Listening, never accepting: the kernel completes the TCP handshake and a SOCKS5 greeting goes unanswered.</summary>
    private static System.Net.Sockets.Socket SilentListener()
    {
        var silent = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen(16);
        return silent;
    }

    /// <summary>A member that never answers (<paramref name="silent"/>) and one whose port refuses.</summary>
    private static ((string, IDialer) Quiet, (string, IDialer) Refusing) QuietAndRefusing(System.Net.Sockets.Socket silent)
    {
        var closed = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        return (
            ("quiet", new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint((IPEndPoint)silent.LocalEndPoint!) })),
            ("refusing", new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, closed) })));
    }

    private async Task<DialResult> DialAsync(UpstreamGroup group, string client = "198.51.100.2")
    {
        var result = await group.DialAsync(new DialRequest(Destination.FromEndPoint(_target.EndPoint), _loop, ClientAddress: IPAddress.Parse(client)));
        result.Socket?.Dispose();
        return result;
    }

    [Fact]
    public async Task Failover_PrimaryKilled_NewDialsRetryOnTheBackup_AndPassiveFailuresMarkItDown()
    {
        var primary = await Microsocks.StartAsync(IPAddress.Loopback);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback);
        await using var group = Group(GroupPolicy.Failover, null, ("primary", Member(primary)), ("backup", Member(backup)));

        Assert.True((await DialAsync(group)).Succeeded);
        Assert.Equal(1, group.Members[0].Dialer.Stats.Connections);

        await primary.DisposeAsync();

        // Every client still gets through (retry before relay), and two real failures mark the primary down.
        for (var i = 0; i < 3; i++)
        {
            var result = await DialAsync(group);
            Assert.True(result.Succeeded, result.ToString());
        }

        Assert.False(group.Members[0].IsUp);
        Assert.Equal(HealthReason.Refused, group.Members[0].Reason);
        Assert.Equal(3, group.Members[1].Dialer.Stats.Connections);

        // Down, it is no longer tried first: no new failures pile up on it.
        var failures = group.Members[0].Dialer.Stats.Failures;
        Assert.True((await DialAsync(group)).Succeeded);
        Assert.Equal(failures, group.Members[0].Dialer.Stats.Failures);
    }

    [Fact]
    public async Task ActiveChecks_BringTheRecoveredPrimaryBack_AfterTheirSuccesses()
    {
        var primary = await Microsocks.StartAsync(IPAddress.Loopback);
        var port = primary.EndPoint.Port;
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback);
        var health = new HealthCheckSettings(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), Failures: 2, Successes: 2, Target: null);
        await using var group = Group(GroupPolicy.Failover, health, ("primary", Member(primary)), ("backup", Member(backup)));
        group.StartChecks(_loop);

        await primary.DisposeAsync();
        Assert.True(await Poll.UntilAsync(() => !group.Members[0].IsUp, Wait));
        Assert.Equal(HealthReason.Refused, group.Members[0].Reason);

        await using var revived = await Microsocks.StartAsync(IPAddress.Loopback, port: port);
        Assert.True(await Poll.UntilAsync(() => group.Members[0].IsUp, Wait));
        Assert.True((await DialAsync(group)).Succeeded);
        Assert.Equal(1, group.Members[0].Dialer.Stats.Connections);
        Assert.True(group.Members[0].Checks >= 4);
    }

    [Fact]
    public async Task ActiveChecks_WrongCredentials_AreDownWithReasonAuth_AndABadTargetWithReasonTarget()
    {
        await using var strict = await Microsocks.StartAsync(IPAddress.Loopback, "right", "right-pass");
        await using var open = await Microsocks.StartAsync(IPAddress.Loopback);
        var wrong = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint(strict.EndPoint), Username = "wrong", Password = "nope" });
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var health = new HealthCheckSettings(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2), 1, 1, Destination.FromAddress(IPAddress.Loopback, closedPort));
        await using var group = Group(GroupPolicy.Failover, health, ("wrong", wrong), ("open", Member(open)));
        group.StartChecks(_loop);

        Assert.True(await Poll.UntilAsync(() => !group.Members[0].IsUp && !group.Members[1].IsUp, Wait));
        Assert.Equal(HealthReason.Auth, group.Members[0].Reason);
        Assert.Equal(HealthReason.Target, group.Members[1].Reason);
    }

    [Fact]
    public async Task RoundRobin_SpreadsDialsEvenly_Hash_KeepsAClientOnOneMember_LeastConnections_PrefersTheIdleOne()
    {
        await using var a = await Microsocks.StartAsync(IPAddress.Loopback);
        await using var b = await Microsocks.StartAsync(IPAddress.Loopback);
        await using var c = await Microsocks.StartAsync(IPAddress.Loopback);

        await using (var rr = Group(GroupPolicy.RoundRobin, null, ("a", Member(a)), ("b", Member(b)), ("c", Member(c))))
        {
            for (var i = 0; i < 300; i++)
            {
                Assert.True((await DialAsync(rr)).Succeeded);
            }

            Assert.All(rr.Members, m => Assert.InRange(m.Dialer.Stats.Connections, 90, 110));
        }

        await using (var hash = Group(GroupPolicy.Hash, null, ("a", Member(a)), ("b", Member(b)), ("c", Member(c))))
        {
            for (var i = 0; i < 30; i++)
            {
                Assert.True((await DialAsync(hash, "198.51.100.23")).Succeeded);
            }

            Assert.Single(hash.Members, m => m.Dialer.Stats.Connections == 30);
        }

        await using (var least = Group(GroupPolicy.LeastConnections, null, ("a", Member(a)), ("b", Member(b))))
        {
            // A session held open through the first member: the next dial goes to the idle one.
            var held = await least.DialAsync(new DialRequest(Destination.FromEndPoint(_target.EndPoint), _loop));
            Assert.True(held.Succeeded);
            Assert.Equal(1, least.Members[0].InFlight);
            Assert.True((await DialAsync(least)).Succeeded);
            Assert.Equal(1, least.Members[1].Dialer.Stats.Connections);
            held.Socket!.Dispose();
            Assert.Equal(0, least.Members[0].InFlight);
        }
    }

    [Fact]
    public async Task Hash_AMemberGoingDown_MovesOnlyItsOwnClients()
    {
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback);
        var health = new HealthCheckSettings(TimeSpan.FromHours(1), TimeSpan.FromSeconds(1), Failures: 1, Successes: 1, Target: null);
        var closed = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var dead = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, closed) });
        await using var group = Group(GroupPolicy.Hash, health, ("a", Member(upstream)), ("b", Member(upstream)), ("c", dead), ("d", Member(upstream)));
        var clients = Enumerable.Range(1, 200).Select(i => IPAddress.Parse($"198.51.{100 + (i / 250)}.{i % 250}")).ToArray();
        string Pick(IPAddress client) => group.Order(client)[0].Name;

        var before = clients.ToDictionary(c => c, Pick);
        Assert.All(group.Members, m => Assert.InRange(before.Values.Count(v => v == m.Name), 25, 75));

        // A real dial of one of its clients fails on "c" (failures 1) and is retried elsewhere: "c" is down, and only
        // its clients have moved.
        var onC = before.First(p => p.Value == "c").Key;
        Assert.True((await DialAsync(group, onC.ToString())).Succeeded);
        Assert.False(group.Members.Single(m => m.Name == "c").IsUp);
        foreach (var client in clients)
        {
            Assert.Equal(before[client] == "c", Pick(client) != before[client]);
        }

        Assert.DoesNotContain(clients, c => Pick(c) == "c");
    }

    [Fact]
    public async Task Udp_HttpMembersAreSkippedNotCountedAsFailing_AndAnHttpOnlyGroupRefusesAtOnce()
    {
        var closed = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var http = new HttpConnectDialer(new HttpConnectDialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, closed) });
        var socks = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, closed) });
        using var runtime = new TransparentSocks.Engine.Udp.UdpRuntime(_loop);
        var stats = new TransparentSocks.Engine.Stats.UdpStats();

        await using (var mixed = Group(GroupPolicy.Failover, null, ("office", http), ("socks", socks)))
        {
            Assert.True(mixed.CarriesUdp);
            var result = await mixed.AssociateAsync(runtime, stats);

            // The SOCKS5 member was tried (and is refused: nothing listens); the HTTP one, first in order, was not.
            Assert.False(result.Succeeded);
            Assert.Equal(DialError.UpstreamUnavailable, result.Error);
            Assert.Equal(0, http.Stats.Dials);
            Assert.Equal(1, socks.Stats.Dials);
            Assert.All(HealthReasonNames.Failures, r => Assert.Equal(0, mixed.Members[0].FailuresBy(r)));
        }

        await using var httpOnly = Group(GroupPolicy.Failover, null, ("office", new HttpConnectDialer(new HttpConnectDialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, closed) })));
        Assert.False(httpOnly.CarriesUdp);
        var refused = await httpOnly.AssociateAsync(runtime, stats);
        Assert.Equal(DialError.UpstreamRejected, refused.Error);
        Assert.Contains("no member carries UDP", refused.Detail, StringComparison.Ordinal);
        Assert.True(httpOnly.Members[0].IsUp);
    }

    [Fact]
    public async Task Failover_APrimaryThatAcceptsAndHangs_TakesHalfTheBudget_AndTheBackupStillAnswersInTime()
    {
        // The kernel completes the handshake for it (backlog), but nothing ever reads: a stopped process.
        using var silent = SilentListener();
        var hanging = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint((IPEndPoint)silent.LocalEndPoint!), ConnectTimeout = TimeSpan.FromSeconds(5), HandshakeTimeout = TimeSpan.FromSeconds(30),
        });
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback);
        var health = HealthCheckSettings.Default with { Interval = TimeSpan.FromHours(1), Failures = 1 };
        await using var group = new UpstreamGroup("main", GroupPolicy.Failover, [("hanging", hanging), ("backup", Member(backup))], health, TimeSpan.FromSeconds(2), NullLogger.Instance);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await DialAsync(group);

        Assert.True(result.Succeeded, result.ToString());
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(2));
        Assert.False(group.Members[0].IsUp);
        Assert.Equal(HealthReason.Timeout, group.Members[0].Reason);
        Assert.Equal(1, group.Members[1].Dialer.Stats.Connections);
    }

    [Fact]
    public async Task WholeGroupDown_FailsWithTheLastMembersError_WithinTheBudget()
    {
        var dead1 = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var dead2 = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var group = Group(
            GroupPolicy.Failover, null,
            ("one", new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, dead1) })),
            ("two", new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, dead2) })));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await DialAsync(group);

        Assert.False(result.Succeeded);
        Assert.Equal(DialError.UpstreamUnavailable, result.Error);
        Assert.Contains(dead2.ToString(System.Globalization.CultureInfo.InvariantCulture), result.Detail, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), clock.Elapsed.ToString());
        Assert.Equal(1, group.Stats.Failures);
    }

    [Fact]
    public async Task BudgetEndsDuringTheLastMembersHandshake_FailsAsTimedOut_NotWithTheEarlierRefusal()
    {
        using var silent = SilentListener();
        var (quiet, refusing) = QuietAndRefusing(silent);
        await using var group = new UpstreamGroup(
            "main", GroupPolicy.Failover, [refusing, quiet],
            HealthCheckSettings.Default with { Interval = TimeSpan.FromHours(1) }, TimeSpan.FromSeconds(1), NullLogger.Instance);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await DialAsync(group);

        // Before the fix a silent last member left the earlier member's refusal as the answer.
        Assert.False(result.Succeeded);
        Assert.Equal(DialError.TimedOut, result.Error);
        Assert.Equal(TransparentSocks.Socks.Socks5ReplyCode.TtlExpired, result.ReplyCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(3));
        Assert.Equal(1, group.Stats.Failures);
    }

    [Fact]
    public async Task SilentFirstMember_GetsHalfTheBudget_AndTheLastMembersAnswerIsTheDials()
    {
        using var silent = SilentListener();
        var (quiet, refusing) = QuietAndRefusing(silent);
        await using var group = new UpstreamGroup(
            "main", GroupPolicy.Failover, [quiet, refusing],
            HealthCheckSettings.Default with { Interval = TimeSpan.FromHours(1) }, TimeSpan.FromSeconds(1), NullLogger.Instance);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await DialAsync(group);

        // Never the empty result (error None, reply 0x00: "succeeded") that a silent first member once left.
        Assert.False(result.Succeeded);
        Assert.Equal(DialError.UpstreamUnavailable, result.Error);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.45), TimeSpan.FromSeconds(2));
        Assert.Equal(HealthReason.Timeout, group.Members[0].Reason);
        Assert.Equal(1, group.Stats.Failures);
    }
}
