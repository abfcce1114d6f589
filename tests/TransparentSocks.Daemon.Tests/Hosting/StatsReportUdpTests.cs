using TransparentSocks.Daemon.Hosting;
using TransparentSocks.Engine.Stats;

namespace TransparentSocks.Daemon.Tests.Hosting;

[Trait("Category", "Unit")]
public sealed class StatsReportUdpTests
{
    [Fact]
    public void Udp_NoDatagramEver_AddsNothingToTheLine()
        => Assert.Equal(string.Empty, StatsReport.Udp(new UdpStats()));

    [Fact]
    public void Udp_AfterTraffic_GivesFlowsDatagramsEachWayAndOnlyTheReasonsThatDropped()
    {
        var udp = new UdpStats();
        udp.FlowOpened();
        udp.Up(100);
        udp.Up(20);
        udp.Down(300);
        udp.Drop(UdpDropReason.QueueFull, 2);
        udp.FlowEvicted();

        Assert.Equal(
            "; udp flows active 1 total 1, datagrams up 2 (120 bytes) down 1 (300 bytes), dropped 2 (queue_full=2), evicted 1, association failures 0",
            StatsReport.Udp(udp));
    }

    [Fact]
    public void Udp_OnlyDrops_StillReported()
    {
        var udp = new UdpStats();
        udp.Drop(UdpDropReason.Malformed);

        Assert.Contains("dropped 1 (malformed=1)", StatsReport.Udp(udp), StringComparison.Ordinal);
    }
}
