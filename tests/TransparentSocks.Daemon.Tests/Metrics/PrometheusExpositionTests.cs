using System.Diagnostics.Metrics;
using System.Text;
using TransparentSocks.Daemon.Metrics;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>Our own exposition: names as the OpenTelemetry exporter made them, text a strict parser accepts.</summary>
[Trait("Category", "Unit")]
public sealed class PrometheusExpositionTests
{
    [Theory]
    [InlineData("transparentsocks.bytes", "By", true, "transparentsocks_bytes_total")]
    [InlineData("transparentsocks.diverted_bytes", "By", true, "transparentsocks_diverted_bytes_total")]
    [InlineData("transparentsocks.udp.bytes", "By", true, "transparentsocks_udp_bytes_total")]
    [InlineData("transparentsocks.upstream.health_check_duration", "s", false, "transparentsocks_upstream_health_check_duration_seconds")]
    [InlineData("transparentsocks.active_connections", "{connection}", false, "transparentsocks_active_connections")]
    [InlineData("transparentsocks.connections", "{connection}", true, "transparentsocks_connections_total")]
    [InlineData("transparentsocks.upstream.up", null, false, "transparentsocks_upstream_up")]
    [InlineData("already_total", null, true, "already_total")]
    [InlineData("odd-name/x", null, false, "odd_name_x")]
    [InlineData("9lives", null, false, "_9lives")]
    public void MetricName_TranslatesAsTheOpenTelemetryExporterDid(string instrument, string? unit, bool counter, string expected)
        => Assert.Equal(expected, PrometheusExposition.MetricName(instrument, unit, counter ? PrometheusType.Counter : PrometheusType.Gauge));

    [Theory]
    [InlineData(0, "0")]
    [InlineData(123456789012345, "123456789012345")]
    [InlineData(0.25, "0.25")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NegativeInfinity, "-Inf")]
    [InlineData(double.NaN, "NaN")]
    public void FormatValue_IsInvariantAndSpellsTheSpecialValues(double value, string expected)
        => Assert.Equal(expected, PrometheusExposition.FormatValue(value));

    [Fact]
    public void Sample_LabelValuesWithQuotesBackslashesAndNewlines_RoundTripThroughAStrictParser()
    {
        const string hostile = "up\"stream\\one\nnext} 1\nfake_total 9";
        var text = new StringBuilder();
        PrometheusExposition.AppendFamily(text, "x_total", PrometheusType.Counter, "Help with a \\ and a\nnewline.");
        PrometheusExposition.AppendSample(text, "x_total", [new("upstream", hostile), new("path", "server")], 3);

        var parsed = PrometheusText.Parse(text.ToString());

        var family = Assert.Single(parsed.Families);
        Assert.Equal("Help with a \\ and a\nnewline.", family.Help);
        Assert.Equal(3, parsed.Value("x_total", ("path", "server"), ("upstream", hostile)));
    }

    [Fact]
    public void Scrape_EveryFamilyOfTheMeter_IsTypedDescribedAndParsesStrictly()
    {
        var eth1 = new InboundStats("eth1");
        eth1.Udp.FlowOpened();
        using var metrics = new ProxyMetrics(
            () => [new MeteredInbound("server", null, new InboundStats("server")), new MeteredInbound("tproxy", "eth1", eth1)],
            new SessionTable(),
            () => new Dictionary<string, (long, long)> { [Nft.NftRuleset.CounterName("eth1")] = (5, 300) },
            () => new MeteredReplySockets("tproxy", 1));
        using var scraper = new PrometheusScraper(metrics.Meter);

        var text = PrometheusText.Parse(scraper.Scrape());

        // Upstream families have no sample without upstreams, so they are left out; everything else is there.
        var names = text.Families.Select(f => f.Name).ToHashSet();
        Assert.Contains("transparentsocks_connections_total", names);
        Assert.Contains("transparentsocks_diverted_bytes_total", names);
        Assert.Contains("transparentsocks_sniffed_total", names);
        Assert.Contains("transparentsocks_udp_reply_sockets", names);
        Assert.DoesNotContain(names, n => n.StartsWith("transparentsocks_upstream_", StringComparison.Ordinal) && n != "transparentsocks_upstream_failures_total");
        Assert.All(text.Families, f => Assert.False(string.IsNullOrWhiteSpace(f.Help), f.Name));
        Assert.Equal("gauge", text.Family("transparentsocks_active_connections").Type);
        Assert.Equal(300, text.Value("transparentsocks_diverted_bytes_total", ("iface", "eth1")));
        Assert.Equal(1, text.Value("transparentsocks_udp_flows_active", ("iface", "eth1"), ("path", "tproxy")));
    }

    [Fact]
    public void Scrape_Twice_ReportsCurrentValuesNotAccumulatedOnes()
    {
        var server = new InboundStats("server");
        using var metrics = new ProxyMetrics(() => [new MeteredInbound("server", null, server)], new SessionTable(), () => new Dictionary<string, (long, long)>(), () => null);
        using var scraper = new PrometheusScraper(metrics.Meter);

        var first = PrometheusText.Parse(scraper.Scrape());
        server.Udp.FlowOpened();
        var second = PrometheusText.Parse(scraper.Scrape());

        Assert.Equal(0, first.Value("transparentsocks_udp_flows_total", ("path", "server")));
        Assert.Equal(1, second.Value("transparentsocks_udp_flows_total", ("path", "server")));
        Assert.Single(second.Family("transparentsocks_udp_flows_total").Samples);
    }

    [Fact]
    public void Scraper_OtherMetersAndPushedInstruments_AreNotServed()
    {
        using var other = new Meter("not-ours-" + Guid.NewGuid());
        other.CreateObservableGauge("foreign.gauge", () => 1L);
        using var ours = new Meter("ours-" + Guid.NewGuid());
        ours.CreateObservableGauge("ours.gauge", () => 2L, description: "ours");
        var pushed = ours.CreateCounter<long>("ours.pushed");
        pushed.Add(5);
        using var scraper = new PrometheusScraper(ours);

        var text = PrometheusText.Parse(scraper.Scrape());

        Assert.Equal(["ours_gauge"], text.Families.Select(f => f.Name));
        Assert.Equal(2, text.Value("ours_gauge"));
    }
}
