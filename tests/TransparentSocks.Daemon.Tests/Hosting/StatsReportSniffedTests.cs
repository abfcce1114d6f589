using TransparentSocks.Daemon.Hosting;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Daemon.Tests.Hosting;

[Trait("Category", "Unit")]
public sealed class StatsReportSniffedTests
{
    [Fact]
    public void Sniffed_NoNameYet_AddsNothingToTheLine()
        => Assert.Equal(string.Empty, StatsReport.Sniffed(new InboundStats("eth1")));

    [Fact]
    public void Sniffed_AfterNames_GivesEachProtocolsCount()
    {
        var stats = new InboundStats("eth1");
        stats.Sniffed(SniffedProtocol.Tls);
        stats.Sniffed(SniffedProtocol.Tls);
        stats.Sniffed(SniffedProtocol.Http);

        Assert.Equal("; sniffed tls 2 http 1", StatsReport.Sniffed(stats));
    }

    [Fact]
    public void Sniffed_OnlyHttp_StillGivesTlsAsZero()
    {
        var stats = new InboundStats("eth1");
        stats.Sniffed(SniffedProtocol.Http);

        Assert.Equal("; sniffed tls 0 http 1", StatsReport.Sniffed(stats));
    }
}
