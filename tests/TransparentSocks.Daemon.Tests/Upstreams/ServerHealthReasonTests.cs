using System.Net;
using TransparentSocks.TestSupport;
using static TransparentSocks.Daemon.Tests.Upstreams.UpstreamJson;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// Each way a real upstream can be unwell shows in <c>show upstreams</c> as its own reason: danted refusing the
/// credentials (auth), a server that accepts TCP and never greets (handshake, after the check timeout), microsocks
/// whose CONNECT to the check's target fails (target). A control group checks the same danted with the right
/// password and the same microsocks against an open target, so each reason belongs to the fault, not the server.
/// </summary>
[Trait("Category", "Integration")]
[Collection(UpstreamServerCollection.Name)]
public sealed class ServerHealthReasonTests
{
    private const double CheckTimeout = 1;

    [Fact]
    public async Task HealthChecks_WrongCredentialsSilentServerAndFailingTarget_AreDownWithReasonsAuthHandshakeAndTarget()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        var closedTarget = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true);
        await using var silent = new SilentUpstream(IPAddress.Loopback);
        await using var socks = await Microsocks.StartAsync(IPAddress.Loopback);
        await using var daemon = await GroupDaemon.StartAsync(
            "broken",
            [
                Socks5("dante-wrong", dante.EndPoint, Dante.Username, "not-the-password"),
                Socks5("dante-right", dante.EndPoint, Dante.Username, Dante.Password),
                Socks5("silent", silent.EndPoint),
                Socks5("socks", socks.EndPoint),
            ],
            [
                Group("broken", "failover", ["dante-wrong", "silent", "socks"], interval: 0.5, timeout: CheckTimeout, failures: 2, target: closedTarget),
                Group("control", "failover", ["dante-right", "socks"], interval: 0.5, timeout: CheckTimeout, failures: 2, target: target.EndPoint),
            ]);

        var auth = await daemon.WaitForMemberAsync("broken", "dante-wrong", m => m.State == "down", TimeSpan.FromSeconds(20));
        var handshake = await daemon.WaitForMemberAsync("broken", "silent", m => m.State == "down", TimeSpan.FromSeconds(20));
        var targetDown = await daemon.WaitForMemberAsync("broken", "socks", m => m.State == "down", TimeSpan.FromSeconds(20));

        Assert.True(auth.Reason == "auth", GroupDaemon.Describe(auth));
        Assert.True(auth.Failures["auth"] >= 2, GroupDaemon.Describe(auth));
        Assert.True(await dante.WaitForLogAsync("system password authentication failed", TimeSpan.FromSeconds(5)), dante.ReadLog());

        // The silent server is given the whole check timeout before it counts as a broken handshake.
        Assert.True(handshake.Reason == "handshake", GroupDaemon.Describe(handshake));
        Assert.True(handshake.Failures["handshake"] >= 2, GroupDaemon.Describe(handshake));
        Assert.True(handshake.LastCheckMs >= CheckTimeout * 1000 * 0.95, GroupDaemon.Describe(handshake));
        Assert.True(handshake.LastCheckMs < CheckTimeout * 1000 * 2, GroupDaemon.Describe(handshake));
        Assert.NotEmpty(silent.Clients);

        Assert.True(targetDown.Reason == "target", GroupDaemon.Describe(targetDown));
        Assert.True(targetDown.Failures["target"] >= 2, GroupDaemon.Describe(targetDown));
        Assert.Contains(closedTarget.ToString(), targetDown.Detail, StringComparison.Ordinal);

        // The same upstreams, checked with the right password and an open target, are up.
        var control = await daemon.UpstreamAsync("control");
        Assert.All(control.Members!, m => Assert.True(m.State == "up" && m.Checks >= 2 && m.CheckFailures == 0, GroupDaemon.Describe(m)));
        Assert.NotEmpty(target.Clients);
    }
}
