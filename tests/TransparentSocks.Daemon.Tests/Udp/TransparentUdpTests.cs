using System.Net;
using System.Net.Sockets;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Udp;

/// <summary>
/// Transparent UDP on the real kernel: client ns → gateway ns (transparentsocksd, nft tproxy for UDP, policy routing)
/// → target ns, through a real UDP-capable upstream (danted's udpassociate) in the gateway.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TransparentUdpTests
{
    private static readonly TimeSpan ReplyWait = TimeSpan.FromSeconds(5);

    internal static async Task<byte[]?> ExchangeAsync(Socket socket, IPEndPoint destination, byte[] payload, TimeSpan wait)
    {
        await socket.SendToAsync(payload, destination);
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(wait);
        try
        {
            var received = await socket.ReceiveFromAsync(buffer, new IPEndPoint(destination.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), cts.Token);
            Assert.Equal(destination, (IPEndPoint)received.RemoteEndPoint);
            return buffer[..received.ReceivedBytes];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task Echo_FromClient_RoundTripsThroughDanteOverIPv4AndIPv6_FromTheOriginalDestination(string mode)
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-echo");
        await using var echo4 = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var echo6 = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.IPv6Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dante.EndPoint, mode));

        foreach (var target in new[] { new IPEndPoint(lab.TargetV4, 7), new IPEndPoint(lab.TargetV6, 7) })
        {
            var local = new IPEndPoint(target.AddressFamily == AddressFamily.InterNetworkV6 ? lab.ClientV6 : lab.ClientV4, 0);
            using var client = lab.Client.CreateUdpSocket(local);
            foreach (var size in new[] { 1, 512, 1400, 8000 })
            {
                var payload = PseudoRandomBytes.Create(size, seed: size);
                var reply = await ExchangeAsync(client, target, payload, ReplyWait);
                Assert.True(reply is not null, $"no reply to {size} bytes to {target}\n{daemon.Log}\n{dante.ReadLog()}");
                Assert.Equal(payload, reply);
            }
        }

        // The target heard the gateway's outside address (danted's external), never the client's.
        Assert.All(echo4.Received, r => Assert.Equal(lab.GatewayTargetSideV4, r.Source.Address));
        Assert.All(echo6.Received, r => Assert.Equal(lab.GatewayTargetSideV6, r.Source.Address));
        Assert.Equal(4, echo4.Received.Count);
        Assert.Equal(4, echo6.Received.Count);

        // And the datagrams went through the upstream's relay, not around it.
        Assert.True(await dante.WaitForUdpDatagramAsync(d => !d.IsReply && d.Target.Equals(new IPEndPoint(lab.TargetV4, 7)), ReplyWait), dante.ReadLog());
    }
}
