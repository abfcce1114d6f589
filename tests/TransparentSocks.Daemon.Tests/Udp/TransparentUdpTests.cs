using System.Net;
using System.Net.Sockets;
using TransparentSocks.Control;
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
    private static readonly IPEndPoint MetricsListen = new(IPAddress.Loopback, 9464);

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

    [Fact]
    public async Task Echo_ThenShowAndMetrics_ReportTheFlowItsDatagramsBothWaysAndNoDrops()
    {
        const int Sent = 5;
        await using var lab = await GatewayLab.CreateAsync("tsu-ops");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        var config = Config(lab, dante.EndPoint);
        config = config.Insert(config.IndexOf('{', StringComparison.Ordinal) + 1, """ "metrics": { "enabled": true }, """);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        Assert.True(await ListenProbe.WaitAsync(daemon.Process, MetricsListen), daemon.Log);
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);
        var iface = lab.ClientInterface;

        var target = new IPEndPoint(lab.TargetV4, 7);
        using var client = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var bytes = 0;
        for (var i = 0; i < Sent; i++)
        {
            var payload = PseudoRandomBytes.Create(100 + i, seed: i);
            bytes += payload.Length;
            Assert.True(await ExchangeAsync(client, target, payload, ReplyWait) is not null, $"no reply to datagram {i}\n{daemon.Log}\n{dante.ReadLog()}");
        }

        var shown = (await Control.Cli.JsonAsync(socket, ControlJsonContext.Default.InterfaceInfo, "show", iface)).Udp;
        Assert.NotNull(shown);
        Assert.Equal((1, 1), (shown.ActiveFlows, shown.TotalFlows));
        Assert.True(shown.DatagramsUp >= Sent && shown.DatagramsDown >= Sent, $"{shown.DatagramsUp} up, {shown.DatagramsDown} down");
        Assert.True(shown.BytesUp >= bytes && shown.BytesDown >= bytes, $"{shown.BytesUp} B up, {shown.BytesDown} B down");
        Assert.Equal(0, shown.Dropped);
        Assert.All(shown.Drops.Values, count => Assert.Equal(0, count));
        Assert.Equal(0, shown.AssociationFailures);

        var human = await Control.Cli.RunAsync(socket, "show", iface);
        Assert.True(human.ExitCode == 0, human.Error);
        Assert.Contains("udp flows:         1 active, 1 total, 0 evicted, 0 failed to open", human.Output, StringComparison.Ordinal);
        Assert.Contains("udp dropped:       0", human.Output, StringComparison.Ordinal);

        var status = await Control.Cli.JsonAsync(socket, ControlJsonContext.Default.StatusResponse, "show");
        Assert.Equal(1, status.Transparent.Udp?.ActiveFlows);

        var sessions = await Control.Cli.JsonAsync(socket, ControlJsonContext.Default.SessionsResponse, "show", "sessions");
        var flow = Assert.Single(sessions.UdpFlows!);
        Assert.Equal((iface, client.LocalEndPoint!.ToString(), target.ToString()), (flow.Inbound, flow.Client, flow.Destination));
        Assert.Equal("established", flow.State);
        Assert.True(flow.DatagramsTx >= Sent && flow.DatagramsRx >= Sent, $"{flow.DatagramsTx} tx, {flow.DatagramsRx} rx");

        var scrape = await lab.Gateway.ExecAsync("curl", "-q", "-sS", "--fail", "--max-time", "10", $"http://{MetricsListen}/metrics");
        Assert.True(scrape.ExitCode == 0, scrape.Error);
        var metrics = PrometheusText.Parse(scrape.Output);
        (string, string)[] labels = [("iface", iface), ("path", "tproxy")];
        Assert.Equal(1, metrics.Value("transparentsocks_udp_flows_total", labels));
        Assert.Equal(1, metrics.Value("transparentsocks_udp_flows_active", labels));
        Assert.True(metrics.Value("transparentsocks_udp_datagrams_total", [.. labels, ("direction", "up")]) >= Sent, scrape.Output);
        Assert.True(metrics.Value("transparentsocks_udp_datagrams_total", [.. labels, ("direction", "down")]) >= Sent, scrape.Output);
        Assert.True(metrics.Value("transparentsocks_udp_bytes_total", [.. labels, ("direction", "down")]) >= bytes, scrape.Output);
        Assert.Equal(0, metrics.Family("transparentsocks_udp_dropped_total").Samples.Sum(s => s.Value));
        Assert.Equal(0, metrics.Value("transparentsocks_udp_evictions_total", labels));
        Assert.True(metrics.Value("transparentsocks_udp_reply_sockets", ("path", "tproxy")) >= 1, scrape.Output);

        var stats = await daemon.StatsAsync(1);
        Assert.Contains(stats, l => l.Contains($"interface {iface}:", StringComparison.Ordinal) && l.Contains("; udp flows active 1 total 1", StringComparison.Ordinal));
    }
}
