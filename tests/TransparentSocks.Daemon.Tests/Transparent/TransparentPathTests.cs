using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>
/// The path works: client ns → gateway ns (transparentsocksd, real nft and policy routing) → target ns, through a
/// real upstream in the gateway ns.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TransparentPathTests
{
    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task Curl_FromClient_CrossesTheUpstreamOverIPv4AndIPv6(string mode)
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-path");
        await using var target4 = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "diverted\n", port: 80));
        await using var target6 = lab.Target.CreateInside(() => new HttpTarget(IPAddress.IPv6Any, "diverted\n", port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, mode));

        var v4 = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/v4");
        var v6 = await lab.CurlFromClientAsync($"http://[{lab.TargetV6}]/v6");

        Assert.True(v4.ExitCode == 0, v4.Error + daemon.Log);
        Assert.True(v6.ExitCode == 0, v6.Error + daemon.Log);
        Assert.Equal("diverted\n", v4.Output);
        Assert.Equal("diverted\n", v6.Output);

        // The target saw the upstream's address (the gateway's own, where microsocks runs), never the client's.
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(target4.Requests).Client.Address);
        Assert.Equal(lab.GatewayTargetSideV6, Assert.Single(target6.Requests).Client.Address);

        // The upstream was asked for the original destination, by address.
        Assert.True(await upstream.WaitForLogAsync($"connected to {lab.TargetV4}:80", TimeSpan.FromSeconds(10)), upstream.Log);
        Assert.True(await upstream.WaitForLogAsync($"connected to {lab.TargetV6}:80", TimeSpan.FromSeconds(10)), upstream.Log);

        // The kernel counted what it diverted on the interface, and the daemon reports it with its own numbers.
        var (packets, bytes) = await CounterAsync(lab.Gateway, lab.ClientInterface);
        Assert.True(packets >= 2 && bytes > 0, $"{packets} packets, {bytes} bytes");
        var stats = Assert.Single(await daemon.StatsAsync(1));
        Assert.Contains($"interface {lab.ClientInterface}: upstream socks5://{upstream.EndPoint}", stats, StringComparison.Ordinal);
        Assert.Contains("total 2,", stats, StringComparison.Ordinal);
        Assert.Contains("connect failures 0", stats, StringComparison.Ordinal);
        Assert.Matches(@"diverted [1-9]\d* packets [1-9]\d* bytes", stats);
        Assert.Matches(@"bytes up [1-9]\d* down [1-9]\d*", stats);
    }

    [Fact]
    public async Task Curl_ThroughDanteWithAuth_CrossesTheUpstream()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-dante");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via dante\n", port: 80));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name);
        var credentials = $$""", "username": "{{Dante.Username}}", "password": "{{Dante.Password}}" """;
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dante.EndPoint, upstreamExtra: credentials));

        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");

        Assert.True(result.ExitCode == 0, result.Error + daemon.Log + dante.ReadLog());
        Assert.Equal("via dante\n", result.Output);
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(target.Requests).Client.Address);
        Assert.True(await dante.WaitForLogAsync(Dante.FormatLogEndPoint(new IPEndPoint(lab.TargetV4, 80)), TimeSpan.FromSeconds(10)), dante.ReadLog());
        Assert.DoesNotContain(Dante.Password, daemon.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task Relay_64MiBEachWay_HashesMatch(string mode)
    {
        const long size = 64L << 20;
        await using var lab = await GatewayLab.CreateAsync("tsd-hash");
        await using var target = lab.Target.CreateInside(() => new HashTarget(IPAddress.Any, size, seed: 11, port: 9000));
        // microsocks tears both directions down at the first EOF, so half-close needs a peer that honours it.
        await using var upstream = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, mode));

        using var client = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 9000));
        var mine = await IntegrityClient.RunAsync(client, size, seed: 12).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, TimeSpan.FromSeconds(30)));
        var theirs = Assert.Single(target.Results);

        Assert.Equal(size, mine.ReceivedBytes);
        Assert.Equal(size, theirs.ReceivedBytes);
        Assert.Equal(mine.SentSha256, theirs.ReceivedSha256);
        Assert.Equal(theirs.SentSha256, mine.ReceivedSha256);
        Assert.Equal(lab.GatewayTargetSideV4, theirs.Peer!.Address);
    }

    [Fact]
    public async Task HalfClose_ClientShutsWriteSide_StillReceivesTheWholeResponse()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-half");
        await using var target = lab.Target.CreateInside(() => new ResponseAfterEofTarget(IPAddress.Any, port: 7000));
        // microsocks tears both directions down at the first EOF, so half-close needs a peer that honours it.
        await using var upstream = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint));
        var request = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("half-close ", 3000)));

        using var client = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 7000));
        await client.SendAsync(request);
        client.Shutdown(SocketShutdown.Send);
        var response = await Socks5TestClient.ReadToEndAsync(client, TimeSpan.FromSeconds(30));

        Assert.True(response.Length > 0, daemon.Log + string.Join("\n", target.Errors));
        Assert.Equal(target.ExpectedResponse(request.Length), Encoding.ASCII.GetString(response));
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(target.Clients).Address);
    }

    [Fact]
    public async Task UpstreamDown_ClientIsResetFastAndTheFailureIsCounted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-down");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        var dead = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dead));

        var started = DateTime.UtcNow;
        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");
        var elapsed = DateTime.UtcNow - started;

        Assert.NotEqual(0, result.ExitCode);
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"took {elapsed}");
        Assert.Contains("reset", result.Error, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(target.Requests);
        Assert.True(await daemon.Process.WaitForTextAsync("upstream_unavailable", TimeSpan.FromSeconds(10)), daemon.Log);
        Assert.Contains("connect failures 1 (upstream_unavailable=1)", Assert.Single(await daemon.StatsAsync(1)), StringComparison.Ordinal);
    }
}
