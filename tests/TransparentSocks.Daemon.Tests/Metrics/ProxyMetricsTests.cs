using System.ComponentModel;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Daemon.Metrics;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Nft;
using TransparentSocks.Sniffing;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>The instruments as a MeterListener sees them, without an exporter or a running data plane.</summary>
[Trait("Category", "Unit")]
public sealed class ProxyMetricsTests
{
    private static readonly string[] Instruments =
    [
        "transparentsocks.connections", "transparentsocks.active_connections", "transparentsocks.bytes",
        "transparentsocks.connect_failures", "transparentsocks.rejected", "transparentsocks.auth_failures",
        "transparentsocks.handshake_failures", "transparentsocks.handshakes_evicted", "transparentsocks.upstream_failures", "transparentsocks.diverted_packets", "transparentsocks.diverted_bytes",
        "transparentsocks.sniffed",
        "transparentsocks.udp.flows_active", "transparentsocks.udp.flows", "transparentsocks.udp.datagrams", "transparentsocks.udp.bytes",
        "transparentsocks.udp.dropped", "transparentsocks.udp.evictions", "transparentsocks.udp.association_failures",
        "transparentsocks.udp.reply_sockets",
        "transparentsocks.upstream.connections", "transparentsocks.upstream.dial_failures", "transparentsocks.upstream.up",
        "transparentsocks.upstream.health_check_duration", "transparentsocks.upstream.health_checks", "transparentsocks.upstream.health_failures",
        "transparentsocks.upstream.in_flight",
    ];

    private static readonly string[] DropReasons =
    [
        "malformed", "fragmented", "truncated", "denied", "wrong_source", "upstream_unavailable", "queue_full", "send_failed", "no_reply_socket", "unresolvable",
    ];

    [Fact]
    public void Instruments_AreAllObservableWithUnitsAndDescriptions()
    {
        using var metrics = new ProxyMetrics(() => [], new SessionTable(), () => new Dictionary<string, (long, long)>(), () => null);

        var observed = Observe(out var instruments);

        Assert.Empty(observed);
        Assert.Equal(Instruments.Order(), instruments.Select(i => i.Name).Order());
        Assert.All(instruments, i => Assert.False(string.IsNullOrEmpty(i.Description)));
        Assert.All(instruments, i => Assert.True(i.IsObservable, i.Name));
        Assert.Equal("s", instruments.Single(i => i.Name == "transparentsocks.upstream.health_check_duration").Unit);
        Assert.IsType<ObservableGauge<long>>(instruments.Single(i => i.Name == "transparentsocks.upstream.up"));
        Assert.Equal("By", instruments.Single(i => i.Name == "transparentsocks.bytes").Unit);
        Assert.Equal("By", instruments.Single(i => i.Name == "transparentsocks.diverted_bytes").Unit);
        Assert.IsType<ObservableUpDownCounter<long>>(instruments.Single(i => i.Name == "transparentsocks.active_connections"));
        Assert.Equal("By", instruments.Single(i => i.Name == "transparentsocks.udp.bytes").Unit);
        Assert.IsType<ObservableUpDownCounter<long>>(instruments.Single(i => i.Name == "transparentsocks.udp.flows_active"));
        Assert.IsType<ObservableUpDownCounter<long>>(instruments.Single(i => i.Name == "transparentsocks.udp.reply_sockets"));
    }

    [Fact]
    public void Server_IsLabelledByPathOnlyWithEveryFailureReason()
    {
        var server = new InboundStats("server");
        var divertedReads = 0;
        using var metrics = new ProxyMetrics(() => [new MeteredInbound("server", null, server)], new SessionTable(), () =>
        {
            divertedReads++;
            return new Dictionary<string, (long, long)>();
        }, () => null);

        var observed = Observe(out _);

        Assert.All(observed, m => Assert.Equal("server", m.Tags["path"]));
        Assert.DoesNotContain(observed, m => m.Tags.ContainsKey("iface"));
        Assert.Equal(2, observed.Count(m => m.Instrument == "transparentsocks.bytes"));
        Assert.Equal(["down", "up"], observed.Where(m => m.Instrument == "transparentsocks.bytes").Select(m => m.Tags["direction"]).Order());
        var reasons = observed.Where(m => m.Instrument == "transparentsocks.connect_failures").Select(m => m.Tags["reason"]).ToList();
        Assert.Equal(Enum.GetValues<DialError>().Where(e => e != DialError.None).Select(e => e.ToReason()).Order(), reasons.Order());
        Assert.Single(observed, m => m.Instrument == "transparentsocks.auth_failures");
        Assert.DoesNotContain(observed, m => m.Instrument.StartsWith("transparentsocks.diverted", StringComparison.Ordinal));

        // Without an interface the kernel is never asked.
        Assert.Equal(0, divertedReads);
    }

    [Fact]
    public void Interfaces_AreLabelledByModeAndName_AndDivertedComesFromTheirNftCounter()
    {
        var eth1 = new InboundStats("eth1");
        var eth2 = new InboundStats("eth2");
        var counters = new Dictionary<string, (long, long)> { [NftRuleset.CounterName("eth1")] = (17, 1133) };
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("redirect", "eth1", eth1), new MeteredInbound("redirect", "eth2", eth2)],
            new SessionTable(),
            () => counters,
            () => null);

        var observed = Observe(out _);

        Assert.All(observed.Where(m => m.Tags.ContainsKey("path")), m => Assert.Equal("redirect", m.Tags["path"]));
        Assert.Equal(2, observed.Count(m => m.Instrument == "transparentsocks.connections"));
        Assert.DoesNotContain(observed, m => m.Instrument == "transparentsocks.auth_failures");
        var packets = Assert.Single(observed, m => m.Instrument == "transparentsocks.diverted_packets");
        Assert.Equal(17, packets.Value);
        Assert.Equal(new Dictionary<string, string?> { ["iface"] = "eth1" }, packets.Tags);
        Assert.Equal(1133, Assert.Single(observed, m => m.Instrument == "transparentsocks.diverted_bytes").Value);
    }

    [Fact]
    public void Udp_EachInbound_ReportsItsCountersAndEveryDropReason()
    {
        var server = new InboundStats("server");
        var eth1 = new InboundStats("eth1");
        eth1.Udp.FlowOpened();
        eth1.Udp.FlowOpened();
        eth1.Udp.FlowClosed();
        eth1.Udp.Up(100);
        eth1.Udp.Up(50);
        eth1.Udp.Down(1400);
        eth1.Udp.Drop(UdpDropReason.WrongSource, 3);
        eth1.Udp.FlowEvicted();
        eth1.Udp.OpenFailed();
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("server", null, server), new MeteredInbound("tproxy", "eth1", eth1)],
            new SessionTable(),
            () => new Dictionary<string, (long, long)>(),
            () => null);

        var observed = Observe(out _);

        long Of(string instrument, params (string Key, string Value)[] extra)
            => Assert.Single(observed, m => m.Instrument == instrument && m.Tags.GetValueOrDefault("iface") == "eth1"
                                            && extra.All(e => m.Tags.GetValueOrDefault(e.Key) == e.Value)).Value;

        Assert.Equal(1, Of("transparentsocks.udp.flows_active"));
        Assert.Equal(2, Of("transparentsocks.udp.flows"));
        Assert.Equal(2, Of("transparentsocks.udp.datagrams", ("direction", "up")));
        Assert.Equal(150, Of("transparentsocks.udp.bytes", ("direction", "up")));
        Assert.Equal(1, Of("transparentsocks.udp.datagrams", ("direction", "down")));
        Assert.Equal(1400, Of("transparentsocks.udp.bytes", ("direction", "down")));
        Assert.Equal(3, Of("transparentsocks.udp.dropped", ("reason", "wrong_source")));
        Assert.Equal(1, Of("transparentsocks.udp.evictions"));
        Assert.Equal(1, Of("transparentsocks.udp.association_failures"));
        foreach (var inbound in new[] { "server", "tproxy" })
        {
            var reasons = observed.Where(m => m.Instrument == "transparentsocks.udp.dropped" && m.Tags["path"] == inbound).Select(m => m.Tags["reason"]);
            Assert.Equal(DropReasons.Order(), reasons.Order());
        }

        Assert.Equal(0, observed.Where(m => m.Instrument.StartsWith("transparentsocks.udp.", StringComparison.Ordinal) && m.Tags["path"] == "server").Sum(m => m.Value));
        Assert.DoesNotContain(observed, m => m.Instrument == "transparentsocks.udp.reply_sockets");
    }

    [Fact]
    public void Sniffed_EachInterface_CountsPerProtocolWithZerosAndTheServerHasNone()
    {
        var eth1 = new InboundStats("eth1");
        eth1.Sniffed(SniffedProtocol.Tls);
        eth1.Sniffed(SniffedProtocol.Tls);
        eth1.Sniffed(SniffedProtocol.Tls);
        eth1.Sniffed(SniffedProtocol.Http);
        eth1.Sniffed(SniffedProtocol.None);
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("server", null, new InboundStats("server")), new MeteredInbound("tproxy", "eth1", eth1), new MeteredInbound("tproxy", "eth2", new InboundStats("eth2"))],
            new SessionTable(),
            () => new Dictionary<string, (long, long)>(),
            () => null);

        var sniffed = Observe(out _).Where(m => m.Instrument == "transparentsocks.sniffed").ToList();

        Assert.Equal(
            [("eth1", "http", 1L), ("eth1", "tls", 3L), ("eth2", "http", 0L), ("eth2", "tls", 0L)],
            sniffed.Select(m => (m.Tags["iface"], m.Tags["protocol"], m.Value)).Order());
        Assert.All(sniffed, m => Assert.Equal(["iface", "path", "protocol"], m.Tags.Keys.Order()));
        Assert.All(sniffed, m => Assert.Equal("tproxy", m.Tags["path"]));
    }

    [Fact]
    public void Exposition_Sniffed_IsOneCounterPerInterfaceAndProtocolLabelledByNoName()
    {
        var eth1 = new InboundStats("eth1");
        eth1.Sniffed(SniffedProtocol.Tls);
        eth1.Sniffed(SniffedProtocol.Tls);
        eth1.Sniffed(SniffedProtocol.Http);
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("server", null, new InboundStats("server")), new MeteredInbound("redirect", "eth1", eth1)],
            new SessionTable(),
            () => new Dictionary<string, (long, long)>(),
            () => null);
        using var scraper = new PrometheusScraper(metrics.Meter);

        var text = PrometheusText.Parse(scraper.Scrape());

        var family = text.Family("transparentsocks_sniffed_total");
        Assert.Equal("counter", family.Type);
        Assert.False(string.IsNullOrWhiteSpace(family.Help));
        Assert.Equal(2, family.Samples.Count);
        Assert.Equal(2, text.Value("transparentsocks_sniffed_total", ("iface", "eth1"), ("path", "redirect"), ("protocol", "tls")));
        Assert.Equal(1, text.Value("transparentsocks_sniffed_total", ("iface", "eth1"), ("path", "redirect"), ("protocol", "http")));
    }

    [Fact]
    public void DropReasonNames_AreDistinctSnakeCaseForEveryReason()
        => Assert.Equal(DropReasons, UdpStats.Reasons.Select(r => r.ToReason()));

    [Fact]
    public void ReplySockets_WhileThePathRelaysUdp_IsOneGaugeLabelledByThePathAlone()
    {
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("redirect", "eth1", new InboundStats("eth1"))],
            new SessionTable(),
            () => new Dictionary<string, (long, long)>(),
            () => new MeteredReplySockets("redirect", 7));

        var sockets = Assert.Single(Observe(out _), m => m.Instrument == "transparentsocks.udp.reply_sockets");

        Assert.Equal(7, sockets.Value);
        Assert.Equal(new Dictionary<string, string?> { ["path"] = "redirect" }, sockets.Tags);
    }

    [Fact]
    public void Exposition_UdpFamilies_AreTypedDescribedAndCarryEveryDropReason()
    {
        var eth1 = new InboundStats("eth1");
        eth1.Udp.FlowOpened();
        eth1.Udp.Up(64);
        eth1.Udp.Down(64);
        eth1.Udp.Drop(UdpDropReason.Fragmented);
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("server", null, new InboundStats("server")), new MeteredInbound("tproxy", "eth1", eth1)],
            new SessionTable(),
            () => new Dictionary<string, (long, long)>(),
            () => new MeteredReplySockets("tproxy", 2));
        using var scraper = new PrometheusScraper(metrics.Meter);

        var text = PrometheusText.Parse(scraper.Scrape());

        var expected = new Dictionary<string, string>
        {
            ["transparentsocks_udp_flows_active"] = "gauge",
            ["transparentsocks_udp_flows_total"] = "counter",
            ["transparentsocks_udp_datagrams_total"] = "counter",
            ["transparentsocks_udp_bytes_total"] = "counter",
            ["transparentsocks_udp_dropped_total"] = "counter",
            ["transparentsocks_udp_evictions_total"] = "counter",
            ["transparentsocks_udp_association_failures_total"] = "counter",
            ["transparentsocks_udp_reply_sockets"] = "gauge",
        };
        var udp = text.Families.Where(f => f.Name.StartsWith("transparentsocks_udp_", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected.Keys.Order(), udp.Select(f => f.Name).Order());
        Assert.All(udp, f =>
        {
            Assert.Equal(expected[f.Name], f.Type);
            Assert.False(string.IsNullOrWhiteSpace(f.Help), f.Name);
        });
        (string Name, string Value)[][] inbounds = [[("path", "server")], [("iface", "eth1"), ("path", "tproxy")]];
        foreach (var labels in inbounds)
        {
            var reasons = text.Family("transparentsocks_udp_dropped_total").Samples
                .Where(s => labels.All(l => s.Labels.GetValueOrDefault(l.Name) == l.Value) && s.Labels.ContainsKey("iface") == labels.Length > 1)
                .Select(s => s.Labels["reason"]);
            Assert.Equal(DropReasons.Order(), reasons.Order());
        }

        Assert.Equal(1, text.Value("transparentsocks_udp_dropped_total", ("iface", "eth1"), ("path", "tproxy"), ("reason", "fragmented")));
        Assert.Equal(64, text.Value("transparentsocks_udp_bytes_total", ("direction", "down"), ("iface", "eth1"), ("path", "tproxy")));
        Assert.Equal(1, text.Value("transparentsocks_udp_datagrams_total", ("direction", "up"), ("iface", "eth1"), ("path", "tproxy")));
        Assert.Equal(1, text.Value("transparentsocks_udp_flows_active", ("iface", "eth1"), ("path", "tproxy")));
        Assert.Equal(2, text.Value("transparentsocks_udp_reply_sockets", ("path", "tproxy")));
    }

    [Fact]
    public void Inbounds_NeitherServerNorPath_IsEmpty()
        => Assert.Empty(ProxyMetrics.Inbounds(new ProxyEngine(1, NullLoggerFactory.Instance).Inbounds()));

    [Fact]
    public void CounterFloor_NeverReportsLessThanBefore()
    {
        var floor = new CounterFloor();
        var stats = new InboundStats("server");

        Assert.Equal((10, 20), floor.Raise(stats, 10, 20));
        Assert.Equal((10, 25), floor.Raise(stats, 7, 25));
        Assert.Equal((12, 25), floor.Raise(stats, 12, 3));
        Assert.Equal((1, 1), floor.Raise(new InboundStats("eth1"), 1, 1));
    }

    [Fact]
    public void DivertedCounters_ReadOncePerTtl()
    {
        var clock = new ManualClock();
        var reads = 0;
        var counters = new DivertedCounters(
            () => Task.FromResult<IReadOnlyDictionary<string, (long, long)>>(new Dictionary<string, (long, long)> { ["c"] = (++reads, 0) }),
            clock,
            TimeSpan.FromSeconds(1));

        Assert.Equal(1, counters.Read()["c"].Packets);
        clock.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(1, counters.Read()["c"].Packets);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, counters.Read()["c"].Packets);
        Assert.Equal(2, reads);
    }

    [Fact]
    public void DivertedCounters_NftCannotRun_IsEmpty()
    {
        var counters = new DivertedCounters(() => throw new Win32Exception(2, "No such file or directory"));

        Assert.Empty(counters.Read());
    }

    private sealed record Observed(string Instrument, long Value, Dictionary<string, string?> Tags);

    private static List<Observed> Observe(out List<Instrument> instruments)
    {
        var seen = new List<Instrument>();
        var observed = new List<Observed>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ProxyMetrics.MeterName)
            {
                seen.Add(instrument);
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            observed.Add(new Observed(instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => (string?)t.Value))));
        listener.Start();
        listener.RecordObservableInstruments();
        instruments = seen;
        return observed;
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
