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

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>The instruments as a MeterListener sees them, without an exporter or a running data plane.</summary>
[Trait("Category", "Unit")]
public sealed class ProxyMetricsTests
{
    private static readonly string[] Instruments =
    [
        "transparentsocks.connections", "transparentsocks.active_connections", "transparentsocks.bytes",
        "transparentsocks.connect_failures", "transparentsocks.rejected", "transparentsocks.auth_failures",
        "transparentsocks.handshake_failures", "transparentsocks.diverted_packets", "transparentsocks.diverted_bytes",
    ];

    [Fact]
    public void Instruments_AreAllObservableWithUnitsAndDescriptions()
    {
        using var metrics = new ProxyMetrics(() => [], new SessionTable(), () => new Dictionary<string, (long, long)>());

        var observed = Observe(out var instruments);

        Assert.Empty(observed);
        Assert.Equal(Instruments.Order(), instruments.Select(i => i.Name).Order());
        Assert.All(instruments, i => Assert.False(string.IsNullOrEmpty(i.Description)));
        Assert.All(instruments, i => Assert.True(i.IsObservable, i.Name));
        Assert.Equal("By", instruments.Single(i => i.Name == "transparentsocks.bytes").Unit);
        Assert.Equal("By", instruments.Single(i => i.Name == "transparentsocks.diverted_bytes").Unit);
        Assert.IsType<ObservableUpDownCounter<long>>(instruments.Single(i => i.Name == "transparentsocks.active_connections"));
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
        });

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
            () => counters);

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

    [Theory]
    [InlineData("127.0.0.1:9464", "http://127.0.0.1:9464/metrics/", "http://127.0.0.1:9464/metrics")]
    [InlineData("192.0.2.7:1234", "http://192.0.2.7:1234/metrics/", "http://192.0.2.7:1234/metrics")]
    [InlineData("0.0.0.0:9464", "http://+:9464/metrics/", "http://0.0.0.0:9464/metrics")]
    public void TryPrefix_IPv4_BindsTheAddressOrEveryIPv4AddressForTheWildcard(string listen, string prefix, string url)
    {
        Assert.True(MetricsService.TryPrefix(IPEndPoint.Parse(listen), out var actualPrefix, out var actualUrl));
        Assert.Equal(prefix, actualPrefix);
        Assert.Equal(url, actualUrl);
    }

    [Theory]
    [InlineData("[::1]:9464")]
    [InlineData("[::]:9464")]
    public void TryPrefix_IPv6_IsRefused(string listen)
        => Assert.False(MetricsService.TryPrefix(IPEndPoint.Parse(listen), out _, out _));

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
