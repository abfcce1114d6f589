using TransparentSocks.Control;
using TransparentSocks.Daemon.Control.Handlers;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>An interface's sniffed counts as <c>show</c> and <c>show IFACE</c> get them.</summary>
[Trait("Category", "Unit")]
public sealed class StateViewsSniffedTests
{
    [Fact]
    public void Sniffed_CopiesEachProtocolsCountToItsOwnField()
    {
        var stats = new InboundStats("eth1");
        stats.Sniffed(SniffedProtocol.Tls);
        stats.Sniffed(SniffedProtocol.Tls);
        stats.Sniffed(SniffedProtocol.Tls);
        stats.Sniffed(SniffedProtocol.Http);

        Assert.Equal(new SniffedInfo { Tls = 3, Http = 1 }, StateViews.Sniffed(stats));
    }
}
