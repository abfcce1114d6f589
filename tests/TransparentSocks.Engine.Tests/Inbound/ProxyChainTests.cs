using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>curl → our SOCKS5 server → our upstream dialer → danted → target: the proxy chain of the original design.</summary>
[Trait("Category", "Integration")]
public sealed class ProxyChainTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Curl_ThroughServerChainedToDanteWithAuth_ReachesTargetViaDante()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "chained\n");
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true);
        var upstream = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint(dante.EndPoint),
            Username = Dante.Username,
            Password = Dante.Password,
        });
        await using var server = ServerHarness.Start(dialer: upstream, users: [("client", "client-pass")]);

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20", "-x", $"socks5h://client:client-pass@{server.EndPoint}",
            $"http://localhost:{target.EndPoint.Port}/chain",
        ], Timeout);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("chained\n", result.Output);
        // The name travelled to danted unresolved, and danted made the connection.
        Assert.True(await dante.WaitForLogAsync(Dante.FormatLogEndPoint(target.EndPoint), Timeout), dante.ReadLog());
        var session = Assert.Single(target.Requests);
        Assert.Equal("/chain", session.Path);
        Assert.Equal(upstream.Name, server.Server.Dialer.Name);
    }

    [Fact]
    public async Task Connect_ChainedUpstreamRefusesDestination_ClientGetsUpstreamsReplyCode()
    {
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false);
        var upstream = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint(dante.EndPoint) });
        await using var server = ServerHarness.Start(dialer: upstream);
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromAddress(IPAddress.Loopback, closedPort));

        Assert.Equal(Socks.Socks5ReplyCode.ConnectionRefused, reply.Code);
        Assert.Equal(1, server.Server.Stats.DialFailures(DialError.UpstreamRejected));
    }

    [Fact]
    public async Task Connect_ChainedToLocalhostName_IsDeniedBeforeReachingUpstream()
    {
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false);
        var upstream = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint(dante.EndPoint) });
        await using var server = ServerHarness.Start(dialer: upstream, denied: NetworkSet.DefaultDeniedDestinations);

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromHost("localhost", 80));

        Assert.Equal(Socks.Socks5ReplyCode.NotAllowedByRuleset, reply.Code);
    }
}
