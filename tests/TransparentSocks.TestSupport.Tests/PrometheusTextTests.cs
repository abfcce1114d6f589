namespace TransparentSocks.TestSupport.Tests;

[Trait("Category", "Unit")]
public sealed class PrometheusTextTests
{
    // As the OpenTelemetry exporter writes it: TYPE before HELP, labels sorted, an escaped interface name.
    private const string ExporterOutput = """
        # TYPE transparentsocks_active_connections gauge
        # HELP transparentsocks_active_connections Sessions open now.
        transparentsocks_active_connections{path="server"} 0
        # TYPE transparentsocks_connections_total counter
        # HELP transparentsocks_connections_total Sessions opened.
        transparentsocks_connections_total{iface="eth\"2\\x\ny",path="tproxy"} 5
        transparentsocks_connections_total{path="server"} 1

        """;

    [Fact]
    public void Parse_ExporterOutput_ReadsFamiliesTypesHelpAndEscapedLabels()
    {
        var text = PrometheusText.Parse(ExporterOutput);

        Assert.Equal(["transparentsocks_active_connections", "transparentsocks_connections_total"], text.Families.Select(f => f.Name));
        var connections = text.Family("transparentsocks_connections_total");
        Assert.Equal("counter", connections.Type);
        Assert.Equal("Sessions opened.", connections.Help);
        Assert.Equal(2, connections.Samples.Count);
        Assert.Equal(5, text.Value("transparentsocks_connections_total", ("iface", "eth\"2\\x\ny"), ("path", "tproxy")));
        Assert.Equal(1, text.Value("transparentsocks_connections_total", ("path", "server")));
        Assert.Equal("gauge", text.Family("transparentsocks_active_connections").Type);
    }

    [Fact]
    public void Parse_OptionalParts_AreAccepted()
    {
        var text = PrometheusText.Parse("""
            # A plain comment is ignored.
            #   HELP   a_total   Help with \\ and \n escapes.
            a_total 1.5e3 1700000000000
            b{} +Inf
            c{x="1",} -Inf
            d { x = "" , y="a b" } NaN
            """);

        Assert.Equal("Help with \\ and \n escapes.", text.Family("a_total").Help);
        Assert.Equal(1500, text.Value("a_total"));
        Assert.Equal(1700000000000, Assert.Single(text.Family("a_total").Samples).Timestamp);
        Assert.Equal(double.PositiveInfinity, text.Value("b"));
        Assert.Equal(double.NegativeInfinity, text.Value("c", ("x", "1")));
        Assert.True(double.IsNaN(text.Value("d", ("x", string.Empty), ("y", "a b"))));
    }

    [Fact]
    public void Parse_HistogramSuffixes_BelongToTheDeclaredFamily()
    {
        var text = PrometheusText.Parse("""
            # TYPE h histogram
            h_bucket{le="1"} 1
            h_bucket{le="+Inf"} 2
            h_sum 3
            h_count 2
            """);

        Assert.Equal(4, Assert.Single(text.Families).Samples.Count);
    }

    [Theory]
    [InlineData("1abc 1", "invalid metric name")]
    [InlineData("a{1x=\"v\"} 1", "invalid label name")]
    [InlineData("a{x=\"v} 1", "unterminated")]
    [InlineData("a{x=\"\\t\"} 1", "unknown escape")]
    [InlineData("a{x=v} 1", "no quoted value")]
    [InlineData("a{x=\"1\",x=\"2\"} 1", "given twice")]
    [InlineData("a{x=\"1\" y=\"2\"} 1", "expected ','")]
    [InlineData("a{x=\"1\"}1", "no blank")]
    [InlineData("a", "expected a value")]
    [InlineData("a 1 2 3", "expected a value")]
    [InlineData("a 1,5", "invalid value")]
    [InlineData("a Infinity", "invalid value")]
    [InlineData("a 1 1.5", "invalid timestamp")]
    [InlineData("a 1\r", "carriage return")]
    [InlineData("# TYPE a counter\n# TYPE a gauge\na 1", "second TYPE")]
    [InlineData("# TYPE a countr\na 1", "unknown type")]
    [InlineData("a 1\n# TYPE a counter", "after its samples")]
    [InlineData("# HELP a x\n# HELP a y\na 1", "second HELP")]
    [InlineData("# HELP a bad \\t escape\na 1", "unknown escape")]
    [InlineData("a{x=\"1\"} 1\nb 1\na{x=\"2\"} 1", "not grouped")]
    [InlineData("a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2", "duplicate series")]
    public void Parse_Malformed_ThrowsNamingTheLineAndTheFault(string input, string fault)
    {
        var ex = Assert.Throws<FormatException>(() => PrometheusText.Parse(input));

        Assert.StartsWith("line ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(fault, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Value_NoOrSeveralMatches_Throws()
    {
        var text = PrometheusText.Parse(ExporterOutput);

        Assert.Throws<KeyNotFoundException>(() => text.Value("transparentsocks_connections_total"));
        Assert.Throws<KeyNotFoundException>(() => text.Value("transparentsocks_connections_total", ("path", "server"), ("iface", "eth0")));
        Assert.Throws<KeyNotFoundException>(() => text.Family("missing"));
    }
}
