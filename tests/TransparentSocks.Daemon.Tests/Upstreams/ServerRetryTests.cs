using System.Net;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using static TransparentSocks.Daemon.Tests.Upstreams.UpstreamJson;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// A dial that fails on one member before anything was relayed is retried on the next; when every member fails, the
/// client gets the last one's answer within the connect timeout, and the failure is counted.
/// </summary>
[Trait("Category", "Integration")]
[Collection(UpstreamServerCollection.Name)]
public sealed class ServerRetryTests
{
    private static readonly IPAddress SecondVia = IPAddress.Parse("127.0.0.12");
    private const double ConnectTimeout = 2;

    [Fact]
    public async Task Retry_FirstMemberPortClosed_EveryConnectionSucceedsThroughTheSecond()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        var closed = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var second = await Microsocks.StartAsync(IPAddress.Loopback, bind: SecondVia);
        await using var daemon = await GroupDaemon.StartAsync(
            "retry",
            [Socks5("closed", closed), Socks5("second", second.EndPoint)],
            [Group("retry", "failover", ["closed", "second"], interval: 60, timeout: 1)],
            ConnectTimeout);

        for (var i = 0; i < 20; i++)
        {
            using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
            Assert.Equal(Socks5ReplyCode.Succeeded, hop.Reply);
            Assert.Equal(SecondVia, hop.Via);
        }

        var first = await daemon.MemberAsync("retry", "closed");
        Assert.Equal("down", first.State);
        Assert.Equal("refused", first.Reason);
        Assert.Equal(20, (await daemon.UpstreamAsync("second")).Connections);
        Assert.Equal(0, (await daemon.ServerInfoAsync()).Failures.Values.Sum());
    }

    [Theory]
    [InlineData(1)] // general failure
    [InlineData(5)] // connection refused
    public async Task Retry_FirstMemberRepliesFailureCode_EveryConnectionSucceedsThroughTheSecond(byte code)
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var refusing = new RefusingSocks5Upstream(IPAddress.Loopback, code);
        await using var second = await Microsocks.StartAsync(IPAddress.Loopback, bind: SecondVia);
        await using var daemon = await GroupDaemon.StartAsync(
            "retry",
            [Socks5("refusing", refusing.EndPoint), Socks5("second", second.EndPoint)],
            [Group("retry", "failover", ["refusing", "second"], interval: 60, timeout: 1)],
            ConnectTimeout);

        for (var i = 0; i < 20; i++)
        {
            using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
            Assert.Equal(Socks5ReplyCode.Succeeded, hop.Reply);
            Assert.Equal(SecondVia, hop.Via);
        }

        // A refused destination says nothing about the upstream's health: it stays first, so every connection
        // was asked of it and then retried.
        Assert.Equal(20, refusing.Requests);
        var first = await daemon.MemberAsync("retry", "refusing");
        Assert.True(first.State == "up", GroupDaemon.Describe(first));
        Assert.Equal(20, (await daemon.UpstreamAsync("second")).Connections);
    }

    [Fact]
    public async Task WholeGroupDown_LastMemberRejects_ClientGetsItsReplyCodeWithinConnectTimeoutAndFailureIsCounted()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        var closed = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var refusing = new RefusingSocks5Upstream(IPAddress.Loopback, (byte)Socks5ReplyCode.HostUnreachable);
        await using var daemon = await GroupDaemon.StartAsync(
            "doomed",
            [Socks5("closed", closed), Socks5("refusing", refusing.EndPoint)],
            [Group("doomed", "failover", ["closed", "refusing"], interval: 0.5, timeout: 1, failures: 1, target: target.EndPoint)],
            ConnectTimeout,
            metrics: true);
        await daemon.WaitForMemberAsync("doomed", "closed", m => m.State == "down", TimeSpan.FromSeconds(10));
        await daemon.WaitForMemberAsync("doomed", "refusing", m => m.State == "down" && m.Reason == "target", TimeSpan.FromSeconds(10));

        for (var i = 0; i < 5; i++)
        {
            using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
            Assert.Equal(Socks5ReplyCode.HostUnreachable, hop.Reply);
            Assert.True(hop.Waited < TimeSpan.FromSeconds(ConnectTimeout), $"waited {hop.Waited.TotalMilliseconds} ms");
        }

        await AssertCountedAsync(daemon, "upstream_rejected", 5);
    }

    /// <summary>
    /// A member that accepts TCP and never greets. Tried last (after the closed port refused) it uses up the rest of
    /// the connect budget, and the client's answer is its timeout. Tried first it gets half of the budget, so that the
    /// next member can still answer: the client then has the last member's answer (the closed port's refusal) after
    /// about half the connect timeout, never a wait past it.
    /// </summary>
    [Theory]
    [InlineData(false, Socks5ReplyCode.TtlExpired, 0.9, 1.0, "timeout")]
    [InlineData(true, Socks5ReplyCode.GeneralFailure, 0.45, 0.6, "upstream_unavailable")]
    public async Task WholeGroupDown_MemberNeverAnswers_ClientGetsTheLastMembersAnswerWithinTheConnectTimeoutCountedByItsReason(
        bool silentFirst, Socks5ReplyCode reply, double minWait, double maxWait, string reason)
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        var closed = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var silent = new SilentUpstream(IPAddress.Loopback);
        await using var daemon = await GroupDaemon.StartAsync(
            "doomed",
            [Socks5("closed", closed), Socks5("silent", silent.EndPoint)],
            [Group("doomed", "failover", silentFirst ? ["silent", "closed"] : ["closed", "silent"], interval: 0.5, timeout: 1, failures: 1)],
            ConnectTimeout,
            metrics: true);
        await daemon.WaitForMemberAsync("doomed", "closed", m => m.State == "down", TimeSpan.FromSeconds(10));
        await daemon.WaitForMemberAsync("doomed", "silent", m => m.State == "down" && m.Reason == "handshake", TimeSpan.FromSeconds(10));

        for (var i = 0; i < 3; i++)
        {
            using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
            Assert.Equal(reply, hop.Reply);
            // The client's own connect and greeting come on top of the budget; a loaded CI machine adds up to a second.
            Assert.InRange(hop.Waited, TimeSpan.FromSeconds(ConnectTimeout * minWait), TimeSpan.FromSeconds((ConnectTimeout * maxWait) + 1));
        }

        await AssertCountedAsync(daemon, reason, 3);
    }

    private static async Task AssertCountedAsync(GroupDaemon daemon, string reason, int count)
    {
        var server = await daemon.ServerInfoAsync();
        Assert.True(server.Failures.GetValueOrDefault(reason) == count, string.Join(", ", server.Failures.Select(f => $"{f.Key}={f.Value}")));
        Assert.Equal(count, (await daemon.UpstreamAsync("doomed")).Failures);
        var metrics = await daemon.MetricsAsync();
        Assert.Equal(count, metrics.Value("transparentsocks_connect_failures_total", ("path", "server"), ("reason", reason)));
    }
}
