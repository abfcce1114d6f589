using System.Net;

namespace TransparentSocks.TestSupport.Tests;

/// <summary>
/// The UDP fixtures against the real programs on loopback, where auth and refusals are cheapest to prove.
/// The namespace versions are in <see cref="Lab.UdpLabSelfTests"/>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UdpFixtureSelfTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task PySocks_ThroughDanteWithAuth_EchoesAndWrongPasswordFails()
    {
        await using var echo = new UdpEchoTarget(IPAddress.Loopback);
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true, udp: true);

        var good = await PySocksUdpClient.RunAsync(dante.EndPoint, echo.EndPoint, [100, 2000], Dante.Username, Dante.Password);
        var wrong = await PySocksUdpClient.RunAsync(dante.EndPoint, echo.EndPoint, [100], Dante.Username, "wrong-pass");

        Assert.True(good.AllIntact, $"{good.Describe()}\n{dante.ReadLog()}");
        Assert.NotNull(wrong.Error);
        Assert.Empty(wrong.Replies);
        Assert.Equal([100, 2000], echo.Received.Select(r => r.Size));
        Assert.True(await dante.WaitForUdpDatagramAsync(d => d.IsReply && d.Size == 2000, Wait), dante.ReadLog());
    }

    [Fact]
    public async Task PySocks_DanteWithoutUdp_AssociationRefused()
    {
        await using var echo = new UdpEchoTarget(IPAddress.Loopback);
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false);

        var result = await PySocksUdpClient.RunAsync(dante.EndPoint, echo.EndPoint, [10]);

        Assert.NotNull(result.Error);
        Assert.Empty(echo.Received);
    }

    [Fact]
    public async Task PySocks_ThroughV2RayWithAuth_Echoes()
    {
        await using var echo = new UdpEchoTarget(IPAddress.Loopback);
        await using var v2ray = await V2Ray.StartAsync(IPAddress.Loopback, user: "bob", password: "pw-1");

        var good = await PySocksUdpClient.RunAsync(v2ray.EndPoint, echo.EndPoint, [1, 1400], "bob", "pw-1");
        var wrong = await PySocksUdpClient.RunAsync(v2ray.EndPoint, echo.EndPoint, [1], "bob", "nope");

        Assert.True(good.AllIntact, $"{good.Describe()}\n{v2ray.ReadErrorLog()}");
        Assert.NotNull(wrong.Error);
        Assert.Equal([1, 1400], echo.Received.Select(r => r.Size));
    }

    [Fact]
    public async Task Dnsmasq_OnLoopback_AnswersItsZoneAndRefusesTheRest()
    {
        await using var dnsmasq = await Dnsmasq.StartAsync(IPAddress.Loopback, port: 0);

        var ours = await Dig.QueryAsync(IPAddress.Loopback, "www.example.test", port: dnsmasq.EndPoint.Port);
        var theirs = await Dig.QueryAsync(IPAddress.Loopback, "www.example.org", port: dnsmasq.EndPoint.Port);

        Assert.True(ours.Answered, $"{ours.Process}\n{dnsmasq.ReadLog()}");
        Assert.Equal([Dnsmasq.DefaultAddressV4.ToString()], ours.Answers);
        Assert.Empty(theirs.Answers);
        Assert.True(await dnsmasq.WaitForQueryAsync("www.example.org", IPAddress.Loopback, Wait), dnsmasq.ReadLog());
        Assert.Contains(new DnsmasqQuery("A", "www.example.test", IPAddress.Loopback), dnsmasq.Queries);
    }
}
