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

    private static string UdpConfig(GatewayLab lab, IPEndPoint upstream, string udpExtra = "")
    {
        var config = Config(lab, upstream);
        return config.Replace("\"interfaces\":", $"{udpExtra} \"interfaces\":", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dig_FromClient_ResolvesThroughDnsmasqInTheTarget_AndTheQueryArrivesThroughTheUpstream()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-dns");
        await using var dnsmasq = await Dnsmasq.StartAsync(lab.TargetV4, 53, networkNamespace: lab.Target.Name);
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dante.EndPoint));

        var name = $"www.{Dnsmasq.Domain}";
        var answer = await Dig.QueryAsync(lab.TargetV4, name, networkNamespace: lab.Client.Name);

        Assert.True(answer.Answered, answer.Process.Output + answer.Process.Error + daemon.Log);
        Assert.Equal([Dnsmasq.DefaultAddressV4.ToString()], answer.Answers);

        // dnsmasq saw the query from the gateway's outside address, where danted relays from: through the upstream.
        Assert.True(await dnsmasq.WaitForQueryAsync(name, lab.GatewayTargetSideV4, ReplyWait), dnsmasq.ReadLog());
        Assert.DoesNotContain(dnsmasq.Queries, q => q.Source.Equals(lab.ClientV4));
        Assert.True(await dante.WaitForUdpDatagramAsync(d => !d.IsReply && d.Target.Equals(new IPEndPoint(lab.TargetV4, 53)), ReplyWait), dante.ReadLog());
    }

    [Fact]
    public async Task Echo_ThroughV2Ray_RoundTripsOverIPv4AndIPv6()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-v2ray");
        await using var echo4 = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var echo6 = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.IPv6Any, 7));
        await using var v2ray = await V2Ray.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, v2ray.EndPoint));

        foreach (var target in new[] { new IPEndPoint(lab.TargetV4, 7), new IPEndPoint(lab.TargetV6, 7) })
        {
            var local = new IPEndPoint(target.AddressFamily == AddressFamily.InterNetworkV6 ? lab.ClientV6 : lab.ClientV4, 0);
            using var client = lab.Client.CreateUdpSocket(local);

            // v2ray 4.34 cuts client payloads past 2038 bytes (V2Ray.MaxIntactPayloadV4), so the sizes stop below it.
            foreach (var size in new[] { 1, 512, 1400 })
            {
                var payload = PseudoRandomBytes.Create(size, seed: size);
                var reply = await ExchangeAsync(client, target, payload, ReplyWait);
                Assert.True(reply is not null, $"no reply to {size} bytes to {target}\n{daemon.Log}\n{v2ray.ReadErrorLog()}");
                Assert.Equal(payload, reply);
            }
        }

        Assert.Equal(3, echo4.Received.Count);
        Assert.Equal(3, echo6.Received.Count);
        Assert.All(echo4.Received, r => Assert.Equal(lab.GatewayTargetSideV4, r.Source.Address));
    }

    /// <summary>The ceiling: per flow its upstream's control connection and UDP socket, one reply socket, and the daemon's own.</summary>
    private static int FdCeiling(int baseline, int flows) => baseline + (2 * flows) + 16;

    [Fact]
    public async Task ThousandClientPorts_OneDatagramEach_AtLeast99PercentAnswered_AndFdsStayUnderTheCeiling()
    {
        const int ports = 1000;
        await using var lab = await GatewayLab.CreateAsync("tsu-many");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dante.EndPoint, "tproxy").Replace("\"debug\"", "\"information\"", StringComparison.Ordinal));
        var baseline = FdCounter.CountOf(daemon.Process.Pid);
        var target = new IPEndPoint(lab.TargetV4, 7);

        var clients = new List<Socket>(ports);
        try
        {
            for (var i = 0; i < ports; i++)
            {
                clients.Add(lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0)));
            }

            // Paced in bursts of 50, so the client's own socket buffers are not what drops datagrams.
            var payload = "ping"u8.ToArray();
            var answered = 0;
            var peak = 0;
            for (var start = 0; start < ports; start += 50)
            {
                var burst = clients.Skip(start).Take(50).ToList();
                await Task.WhenAll(burst.Select(c => c.SendToAsync(payload, target)));
                var replies = await Task.WhenAll(burst.Select(c => ReceiveOneAsync(c, ReplyWait)));
                answered += replies.Count(r => r);
                peak = Math.Max(peak, FdCounter.CountOf(daemon.Process.Pid));
            }

            Assert.True(answered >= ports * 99 / 100, $"{answered} of {ports} answered\n{daemon.Log}");
            Assert.True(peak <= FdCeiling(baseline, ports), $"{peak} fds open with {ports} flows; ceiling {FdCeiling(baseline, ports)} (baseline {baseline})");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task MaxUdpFlows_CapsTheFlows_AndTheirFds_EvictingTheOldest()
    {
        const int cap = 50;
        await using var lab = await GatewayLab.CreateAsync("tsu-cap");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, UdpConfig(lab, dante.EndPoint, $$""" "maxUdpFlows": {{cap}}, """));
        var baseline = FdCounter.CountOf(daemon.Process.Pid);
        var target = new IPEndPoint(lab.TargetV4, 7);

        // Every socket stays open to the end, so no two flows share a port the kernel handed out again.
        var peak = 0;
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 3 * cap; i++)
            {
                var client = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
                clients.Add(client);
                var reply = await ExchangeAsync(client, target, "ping"u8.ToArray(), ReplyWait);
                Assert.True(reply is not null, $"flow {i} got no reply\n{daemon.Log}");
                peak = Math.Max(peak, FdCounter.CountOf(daemon.Process.Pid));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        Assert.True(peak <= FdCeiling(baseline, cap), $"{peak} fds open with the flows capped at {cap}; ceiling {FdCeiling(baseline, cap)} (baseline {baseline})");
        // 3 × cap flows through a table of cap: every flow past the first cap evicted one. The log is read as it comes.
        Assert.True(
            await Poll.UntilAsync(() => TransparentLab.Count(daemon.Log, "evicted: the flow table is full") >= 2 * cap, ReplyWait),
            $"{TransparentLab.Count(daemon.Log, "evicted: the flow table is full")} evictions logged\n{daemon.Log}");
    }

    [Fact]
    public async Task IdleFlows_AreReclaimed_AndTheFdCountReturnsToItsBaseline()
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-idle");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, UdpConfig(lab, dante.EndPoint, """ "udpTimeout": 2, "udpDnsTimeout": 1, """));
        var target = new IPEndPoint(lab.TargetV4, 7);

        // The first flow also opens what the daemon keeps for good (the runtime's lazily made descriptors); the baseline
        // is what is left once that flow has gone idle.
        using (var first = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0)))
        {
            Assert.NotNull(await ExchangeAsync(first, target, "warm"u8.ToArray(), ReplyWait));
        }

        var before = FdCounter.CountOf(daemon.Process.Pid);
        await Poll.UntilAsync(() => FdCounter.CountOf(daemon.Process.Pid) <= before - 3, TimeSpan.FromSeconds(10));
        var baseline = FdCounter.CountOf(daemon.Process.Pid);

        // Twenty flows, their sockets all open at once so that each has a port of its own.
        var clients = Enumerable.Range(0, 20).Select(_ => lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0))).ToList();
        foreach (var client in clients)
        {
            Assert.NotNull(await ExchangeAsync(client, target, "ping"u8.ToArray(), ReplyWait));
        }

        var busy = FdCounter.CountOf(daemon.Process.Pid);
        clients.ForEach(c => c.Dispose());
        Assert.True(busy >= baseline + 20, $"{busy} fds with 20 flows open, baseline {baseline}");

        var settled = await Poll.UntilAsync(() => FdCounter.CountOf(daemon.Process.Pid) <= baseline, TimeSpan.FromSeconds(10));
        Assert.True(settled, $"{FdCounter.CountOf(daemon.Process.Pid)} fds 10 s after the flows went idle; baseline {baseline} (before the warm-up flow closed: {before})\n{daemon.Log}");
        Assert.Contains("closed (idle)", daemon.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AServiceOnTheGatewayOnTheSamePort_IsNotDisturbed_BeforeDuringOrAfter(bool serviceSharesItsPort)
    {
        await using var lab = await GatewayLab.CreateAsync("tsu-local");
        await using var echo = lab.Target.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7));

        // The gateway's own service on the wildcard address and the same port number as the remote one.
        await using var local = lab.Gateway.CreateInside(() => new UdpEchoTarget(IPAddress.Any, 7, reuseAddress: serviceSharesItsPort));
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false, external: lab.TargetInterface, networkNamespace: lab.Gateway.Name, udp: true);
        using var client = lab.Client.CreateUdpSocket(new IPEndPoint(lab.ClientV4, 0));
        var service = new IPEndPoint(lab.GatewayClientSideV4, 7);
        var remote = new IPEndPoint(lab.TargetV4, 7);

        Assert.NotNull(await ExchangeAsync(client, service, "before"u8.ToArray(), ReplyWait));
        await using (var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dante.EndPoint)))
        {
            var proxied = await ExchangeAsync(client, remote, "proxied"u8.ToArray(), ReplyWait);
            Assert.NotNull(await ExchangeAsync(client, service, "meanwhile"u8.ToArray(), ReplyWait));

            // A service that shares its port (SO_REUSEADDR, as dnsmasq does) lets the reply socket bind beside it; one
            // that does not keeps its port to itself, and the proxied reply is dropped rather than the service hurt.
            if (serviceSharesItsPort)
            {
                Assert.True(proxied is not null, daemon.Log);
            }

            Assert.Single(echo.Received);
        }

        Assert.NotNull(await ExchangeAsync(client, service, "after"u8.ToArray(), ReplyWait));
        Assert.Equal([6, 9, 5], local.Received.Select(r => r.Size));
    }

    private static async Task<bool> ReceiveOneAsync(Socket socket, TimeSpan wait)
    {
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(wait);
        try
        {
            await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
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
