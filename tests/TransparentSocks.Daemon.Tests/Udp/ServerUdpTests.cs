using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;

namespace TransparentSocks.Daemon.Tests.Udp;

/// <summary>
/// The SOCKS5 server's UDP ASSOCIATE (RFC 1928 §7), from the client namespace to a UDP echo in the target namespace,
/// with the daemon in the gateway: real clients (PySocks, and a raw client for the refusals), direct and chained.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ServerUdpTests
{
    private const int ServerPort = 1080;
    private const string User = "udp-client";
    private const string Password = "udp-client-pass";
    private static readonly TimeSpan ReplyWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan SilenceWait = TimeSpan.FromSeconds(1.5);

    private static string ServerConfig(GatewayLab lab, string extra = "", string upstream = "") => $$"""
        {
          "server": { "enabled": true, "listen": "{{lab.GatewayClientSideV4}}:{{ServerPort}}",
                      "users": [ { "username": "{{User}}", "password": "{{Password}}" } ] {{extra}} },
          {{(upstream.Length > 0 ? upstream + "," : "")}}
          "logging": { "level": "debug" }
        }
        """;

    private static IPEndPoint Server(GatewayLab lab) => new(lab.GatewayClientSideV4, ServerPort);

    [Fact]
    public async Task PySocks_Direct_EchoesEverySize_AndTheTargetHearsTheGateway()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-srv");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(lab));

        var result = await PySocksUdpClient.RunAsync(Server(lab), new IPEndPoint(lab.TargetV4, 7), [1, 512, 1400, 8000], User, Password, networkNamespace: lab.Client.Name);

        Assert.True(result.AllIntact, result.Describe() + daemon.Log);
        Assert.All(result.Replies, r => Assert.Equal(new IPEndPoint(lab.TargetV4, 7), r!.Source));
        Assert.Equal(4, echo.Received.Count);
        Assert.All(echo.Received, r => Assert.Equal(lab.GatewayTargetSideV4, r.Source.Address));

        // The relay is on the address the client reached, as BND says.
        Assert.Equal(lab.GatewayClientSideV4, result.Relay!.Address);
    }

    [Fact]
    public async Task PySocks_ChainedThroughDante_EchoesThroughTheUpstreamsOwnAssociation()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-chain");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(
            lab, extra: """, "outbound": "upstream" """, upstream: $$""" "upstream": { "address": "{{dante.EndPoint}}" } """));

        var result = await PySocksUdpClient.RunAsync(Server(lab), new IPEndPoint(lab.TargetV4, 7), [1, 512, 1400], User, Password, networkNamespace: lab.Client.Name);

        Assert.True(result.AllIntact, result.Describe() + daemon.Log + dante.ReadLog());
        Assert.True(await dante.WaitForUdpDatagramAsync(d => !d.IsReply && d.Target.Equals(new IPEndPoint(lab.TargetV4, 7)), ReplyWait), dante.ReadLog());
        Assert.Equal(3, echo.Received.Count);
    }

    [Fact]
    public async Task Relay_RefusesStrangersFragmentsDeniedDestinationsAndDatagramsAfterTheClose_AndStillServesTheClient()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-refuse");
        await lab.AddClientAddressAsync(IPAddress.Parse("198.51.100.3"));
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var localDns = lab.Gateway.CreateInside(() => new UdpEchoTarget(IPAddress.Loopback, 53));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(lab));
        var target = Destination.FromEndPoint(new IPEndPoint(lab.TargetV4, 7));

        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var declared = Destination.FromEndPoint((IPEndPoint)udp.LocalEndPoint!);
        var association = await Socks5UdpAssociation.OpenAsync(await lab.ConnectFromClientAsync(Server(lab)), declared, User, Password);
        try
        {
            // The honest client is served.
            var reply = await association.ExchangeAsync(udp, target, "hello"u8.ToArray(), ReplyWait);
            Assert.True(reply is not null, daemon.Log);
            Assert.Equal("hello"u8.ToArray(), reply.Payload);
            Assert.Equal(new IPEndPoint(lab.TargetV4, 7), reply.Source.ToEndPoint());

            // Another port of the client's own address, when it declared one: dropped.
            using var otherPort = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
            Assert.Null(await association.ExchangeAsync(otherPort, target, "other port"u8.ToArray(), SilenceWait));

            // Another source address: dropped.
            using var stranger = lab.Client.CreateUdpSocket(new IPEndPoint(IPAddress.Parse("198.51.100.3"), 0));
            Assert.Null(await association.ExchangeAsync(stranger, target, "stranger"u8.ToArray(), SilenceWait));

            // FRAG ≠ 0: dropped (no reassembly).
            await association.SendAsync(udp, target, "fragment"u8.ToArray(), fragment: 1);
            Assert.Null(await Socks5UdpAssociation.ReceiveAsync(udp, SilenceWait));

            // A malformed header: dropped, and the relay carries on.
            await association.SendRawAsync(udp, new byte[] { 0, 0, 0, 9, 1, 2, 3 });

            // The gateway's own loopback is denied.
            Assert.Null(await association.ExchangeAsync(udp, Destination.FromEndPoint(new IPEndPoint(IPAddress.Loopback, 53)), "dns?"u8.ToArray(), SilenceWait));
            Assert.Empty(localDns.Received);

            // Still serving the client after all that.
            reply = await association.ExchangeAsync(udp, target, "again"u8.ToArray(), ReplyWait);
            Assert.True(reply is not null, daemon.Log);
            Assert.Equal("again"u8.ToArray(), reply.Payload);

            // Only the two honest datagrams reached the target.
            Assert.Equal([5, 5], echo.Received.Select(r => r.Size));
        }
        finally
        {
            association.Dispose();
        }

        // The TCP connection is gone: so is the association, and its relay port takes nothing more.
        await Task.Delay(300);
        await association.SendAsync(udp, target, "after close"u8.ToArray());
        Assert.Null(await Socks5UdpAssociation.ReceiveAsync(udp, SilenceWait));
        Assert.Equal(2, echo.Received.Count);
    }

    [Fact]
    public async Task UdpAssociate_WhenServerUdpIsOff_IsAnsweredCommandNotSupported()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-off");
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(lab, extra: """, "udp": false """));

        using var control = await lab.ConnectFromClientAsync(Server(lab));
        var reply = await Socks5TestClient.HandshakeAsync(control, Destination.FromEndPoint(new IPEndPoint(IPAddress.Any, 0)), User, Password, Socks5Command.UdpAssociate);

        Assert.Equal(Socks5ReplyCode.CommandNotSupported, reply.Code);
    }

    [Fact]
    public async Task GarbageFlood_AtTheRelayAndThroughTheTransparentPath_TheDaemonKeepsServing()
    {
        const int datagrams = 20_000;
        await using var lab = await GatewayLab.CreateAsync("tsu-flood");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        var config = ServerConfig(lab, upstream: $$""" "upstream": { "address": "{{dante.EndPoint}}" }, "transparent": { "enabled": true, "port": 12345, "interfaces": [ { "name": "{{lab.ClientInterface}}" } ] } """)
            .Replace("\"debug\"", "\"information\"", StringComparison.Ordinal);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        var target = Destination.FromEndPoint(new IPEndPoint(lab.TargetV4, 7));

        using var udp = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var association = await Socks5UdpAssociation.OpenAsync(
            await lab.ConnectFromClientAsync(Server(lab)), Destination.FromEndPoint((IPEndPoint)udp.LocalEndPoint!), User, Password);
        using var _ = association;
        var random = new Random(8);
        var buffer = new byte[1500];
        using var junk = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        for (var i = 0; i < datagrams && DateTime.UtcNow < deadline; i++)
        {
            var datagram = buffer.AsMemory(0, random.Next(0, buffer.Length));
            random.NextBytes(datagram.Span);
            if (i % 2 == 0)
            {
                // From the client itself: headers that start right (RSV RSV FRAG=0) and then go wrong (an unknown
                // ATYP, or cut short), or are whole and carry junk. Any address they name is the lab's target, so
                // nothing the daemon sends can leave the lab.
                var span = datagram.Span;
                if (span.Length >= 10)
                {
                    span[..3].Clear();
                    switch (i % 6)
                    {
                        case 0:
                            span[3] = (byte)random.Next(5, 256);
                            break;
                        case 2:
                            WriteLabHeader(span, lab.TargetV4);
                            datagram = datagram[..random.Next(3, 10)];
                            break;
                        default:
                            WriteLabHeader(span, lab.TargetV4);
                            break;
                    }
                }

                await association.SendRawAsync(udp, datagram);
            }
            else
            {
                // Random payloads through the transparent path, to random ports of the target: one flow, many destinations.
                await junk.SendToAsync(datagram, new IPEndPoint(lab.TargetV4, random.Next(1, 65536)));
            }

            if (i % 500 == 499)
            {
                await Task.Delay(5);
            }
        }

        Assert.False(daemon.Process.HasExited, daemon.Log);

        // Drain what the flood's replies left in the client's buffer, then an honest exchange on each path works.
        while (await Socks5UdpAssociation.ReceiveAsync(udp, TimeSpan.FromMilliseconds(200)) is not null)
        {
        }

        var reply = await association.ExchangeAsync(udp, target, "still here"u8.ToArray(), ReplyWait);
        Assert.True(reply is not null && reply.Payload.SequenceEqual("still here"u8.ToArray()), daemon.Log);
        using var honest = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var direct = await TransparentUdpTests.ExchangeAsync(honest, new IPEndPoint(lab.TargetV4, 7), "transparent"u8.ToArray(), ReplyWait);
        Assert.True(direct is not null, daemon.Log);
        Assert.DoesNotContain("unexpected failure", daemon.Log, StringComparison.Ordinal);
    }

    private static void WriteLabHeader(Span<byte> datagram, IPAddress target)
    {
        datagram[3] = 1;
        target.TryWriteBytes(datagram[4..8], out _);
    }
}
