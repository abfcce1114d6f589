using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport.Lab;

namespace TransparentSocks.TestSupport.Tests.Lab;

/// <summary>
/// Proves the UDP peers in the gateway lab without our daemon: each real upstream (danted, v2ray) runs in
/// the gateway namespace and relays a real client's datagrams to an echo target in the target namespace,
/// and dnsmasq answers dig across the routed lab. If these fail, the fixture or the machine is broken, and
/// no UDP test built on them can be trusted.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UdpLabSelfTests
{
    private const int EchoPort = 7;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReplyWait = TimeSpan.FromSeconds(5);
    private static readonly int[] IssueSizes = [1, 512, 1400, 8000];

    [Fact]
    public async Task PySocks_ThroughDanteInGateway_EchoesEverySizeAndTargetSeesGatewayOutside()
    {
        await using var lab = await GatewayLab.CreateAsync("tsudp-pyd");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, EchoPort));
        await using var dante = await Dante.StartAsync(
            lab.GatewayClientSideV4, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        var destination = new IPEndPoint(lab.TargetV4, EchoPort);

        var result = await PySocksUdpClient.RunAsync(dante.EndPoint, destination, IssueSizes, networkNamespace: lab.Client.Name);

        Assert.True(result.AllIntact, $"{result.Describe()}\n{dante.ReadLog()}");
        Assert.Equal(IssueSizes, result.Replies.Select(r => r!.Size));
        Assert.All(result.Replies, r => Assert.Equal(destination, r!.Source));
        Assert.Equal(lab.GatewayClientSideV4, result.Relay?.Address);
        Assert.Equal(IssueSizes, echo.Received.Select(r => r.Size));
        Assert.All(echo.Received, r => Assert.Equal(lab.GatewayTargetSideV4, r.Source.Address));
        Assert.True(
            await dante.WaitForUdpDatagramAsync(
                d => !d.IsReply && d.Target.Equals(destination) && d.External.Address.Equals(lab.GatewayTargetSideV4)
                    && d.Client.Address.Equals(lab.ClientV4) && d.Size == 8000,
                Wait),
            dante.ReadLog());
        Assert.True(await dante.WaitForUdpDatagramAsync(d => d.IsReply && d.Target.Equals(destination) && d.Size == 8000, Wait), dante.ReadLog());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RawClient_ThroughDanteInGateway_AssociatesWithZeroAddressAndEchoes(bool ipv6)
    {
        await using var lab = await GatewayLab.CreateAsync(ipv6 ? "tsudp-rd6" : "tsudp-rd4");
        var any = ipv6 ? IPAddress.IPv6Any : IPAddress.Any;
        var gateway = ipv6 ? lab.GatewayClientSideV6 : lab.GatewayClientSideV4;
        var destination = new IPEndPoint(ipv6 ? lab.TargetV6 : lab.TargetV4, EchoPort);
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(any, EchoPort));
        await using var dante = await Dante.StartAsync(
            gateway, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(any, 0));

        using var association = await Socks5UdpAssociation.OpenAsync(
            await lab.ConnectFromClientAsync(dante.EndPoint), Destination.FromAddress(any, 0));
        var reply = await association.ExchangeAsync(udp, Destination.FromEndPoint(destination), new byte[] { 1, 2, 3 }, ReplyWait);

        Assert.Equal(gateway, association.Bound.Address);
        Assert.NotEqual(dante.EndPoint.Port, association.Bound.Port);
        Assert.NotNull(reply);
        Assert.Equal(new byte[] { 1, 2, 3 }, reply.Payload);
        Assert.Equal(Destination.FromEndPoint(destination), reply.Source);
        Assert.Equal(0, reply.Fragment);
        Assert.Equal(association.Relay, reply.From);
        Assert.Equal(ipv6 ? lab.GatewayTargetSideV6 : lab.GatewayTargetSideV4, Assert.Single(echo.Received).Source.Address);
    }

    [Fact]
    public async Task RawClient_FragmentOrForeignSource_DanteDropsAndStillEchoesTheRest()
    {
        var secondary = IPAddress.Parse("198.51.100.3");
        await using var lab = await GatewayLab.CreateAsync("tsudp-drop");
        await lab.AddClientAddressAsync(secondary);
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, EchoPort));
        await using var dante = await Dante.StartAsync(
            lab.GatewayClientSideV4, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        using var foreign = lab.Client.CreateUdpSocket(new IPEndPoint(secondary, 0));
        var destination = Destination.FromAddress(lab.TargetV4, EchoPort);

        // Declaring the exact client endpoint is what lets a relay tell the foreign socket apart.
        using var association = await Socks5UdpAssociation.OpenAsync(
            await lab.ConnectFromClientAsync(dante.EndPoint), Destination.FromEndPoint((IPEndPoint)udp.LocalEndPoint!));
        await association.SendAsync(udp, destination, new byte[] { 9 }, fragment: 1);
        var fragmentReply = await Socks5UdpAssociation.ReceiveAsync(udp, TimeSpan.FromSeconds(1));
        await association.SendAsync(foreign, destination, new byte[] { 8 });
        var foreignReply = await Socks5UdpAssociation.ReceiveAsync(foreign, TimeSpan.FromSeconds(1));
        var good = await association.ExchangeAsync(udp, destination, new byte[] { 7 }, ReplyWait);

        Assert.Null(fragmentReply);
        Assert.Null(foreignReply);
        Assert.Equal(new byte[] { 7 }, good?.Payload);
        Assert.Equal([1], echo.Received.Select(r => r.Size));
    }

    [Fact]
    public async Task PySocks_ThroughV2RayInGateway_EchoesAndAccessLogNamesTarget()
    {
        int[] sizes = [1, 512, 1400, V2Ray.MaxIntactPayloadV4];
        await using var lab = await GatewayLab.CreateAsync("tsudp-pyv");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, EchoPort));
        await using var v2ray = await V2Ray.StartAsync(lab.GatewayClientSideV4, networkNamespace: lab.Gateway.Name);
        var destination = new IPEndPoint(lab.TargetV4, EchoPort);

        var result = await PySocksUdpClient.RunAsync(v2ray.EndPoint, destination, sizes, networkNamespace: lab.Client.Name);

        Assert.True(result.AllIntact, $"{result.Describe()}\n{v2ray.ReadErrorLog()}");
        Assert.Equal(sizes, result.Replies.Select(r => r!.Size));
        Assert.All(result.Replies, r => Assert.Equal(destination, r!.Source));
        Assert.Equal(v2ray.EndPoint, result.Relay);
        Assert.Equal(sizes, echo.Received.Select(r => r.Size));
        Assert.All(echo.Received, r => Assert.Equal(lab.GatewayTargetSideV4, r.Source.Address));
        Assert.True(
            await v2ray.WaitForAccessLogAsync($"accepted {V2Ray.FormatUdpDestination(destination)}", Wait),
            v2ray.ReadAccessLog());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RawClient_ThroughV2RayWithAuth_AnswersSettingsIpAndInboundPort(bool ipv6)
    {
        await using var lab = await GatewayLab.CreateAsync(ipv6 ? "tsudp-rv6" : "tsudp-rv4");
        var any = ipv6 ? IPAddress.IPv6Any : IPAddress.Any;
        var gateway = ipv6 ? lab.GatewayClientSideV6 : lab.GatewayClientSideV4;
        var destination = new IPEndPoint(ipv6 ? lab.TargetV6 : lab.TargetV4, EchoPort);
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(any, EchoPort));
        await using var v2ray = await V2Ray.StartAsync(gateway, user: "alice", password: "s3cret", networkNamespace: lab.Gateway.Name);
        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(any, 0));

        using var association = await Socks5UdpAssociation.OpenAsync(
            await lab.ConnectFromClientAsync(v2ray.EndPoint), Destination.FromAddress(any, 0), "alice", "s3cret");
        var reply = await association.ExchangeAsync(udp, Destination.FromEndPoint(destination), new byte[] { 4, 5 }, ReplyWait);

        Assert.Equal(Destination.FromEndPoint(v2ray.EndPoint), association.Bound);
        Assert.NotNull(reply);
        Assert.Equal(new byte[] { 4, 5 }, reply.Payload);
        Assert.Equal(Destination.FromEndPoint(destination), reply.Source);
        Assert.Equal(ipv6 ? lab.GatewayTargetSideV6 : lab.GatewayTargetSideV4, Assert.Single(echo.Received).Source.Address);
    }

    [Fact]
    public async Task RawClient_ThroughV2RayPayloadOverItsBuffer_ArrivesCutShort()
    {
        await using var lab = await GatewayLab.CreateAsync("tsudp-cut");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, EchoPort));
        await using var v2ray = await V2Ray.StartAsync(lab.GatewayClientSideV4, networkNamespace: lab.Gateway.Name);
        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(IPAddress.Any, 0));

        using var association = await Socks5UdpAssociation.OpenAsync(
            await lab.ConnectFromClientAsync(v2ray.EndPoint), Destination.FromAddress(IPAddress.Any, 0));
        var reply = await association.ExchangeAsync(udp, Destination.FromAddress(lab.TargetV4, EchoPort), new byte[8000], ReplyWait);

        Assert.Equal(V2Ray.MaxIntactPayloadV4, reply?.Payload.Length);
        Assert.Equal([V2Ray.MaxIntactPayloadV4], echo.Received.Select(r => r.Size));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dig_FromClientToDnsmasqInTarget_ResolvesAndLogShowsClientAddress(bool ipv6)
    {
        await using var lab = await GatewayLab.CreateAsync(ipv6 ? "tsudp-dns6" : "tsudp-dns4");
        var server = ipv6 ? lab.TargetV6 : lab.TargetV4;
        var client = ipv6 ? lab.ClientV6 : lab.ClientV4;
        await using var dnsmasq = await Dnsmasq.StartAsync(server, networkNamespace: lab.Target.Name);

        var a = await Dig.QueryAsync(server, "name.example.test", "A", networkNamespace: lab.Client.Name);
        var aaaa = await Dig.QueryAsync(server, "name.example.test", "AAAA", networkNamespace: lab.Client.Name);

        Assert.True(a.Answered, $"{a.Process}\n{dnsmasq.ReadLog()}");
        Assert.Equal([Dnsmasq.DefaultAddressV4.ToString()], a.Answers);
        Assert.Equal([Dnsmasq.DefaultAddressV6.ToString()], aaaa.Answers);
        Assert.True(await dnsmasq.WaitForQueryAsync("name.example.test", client, Wait), dnsmasq.ReadLog());
        Assert.Contains(new DnsmasqQuery("AAAA", "name.example.test", client), dnsmasq.Queries);
    }
}
