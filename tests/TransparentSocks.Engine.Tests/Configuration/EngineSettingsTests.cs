using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Engine.Configuration;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Tests.Configuration;

[Trait("Category", "Unit")]
public sealed class EngineSettingsTests
{
    private static TransparentSocksOptions UdpOptions()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.Udp = false;
        options.Transparent.UdpTimeoutSeconds = 90;
        options.Transparent.UdpDnsTimeoutSeconds = 2.5;
        options.Transparent.MaxUdpFlows = 77;
        options.Server.Udp = false;
        options.Server.UdpTimeoutSeconds = 30;
        options.Server.MaxUdpAssociations = 5;
        return options;
    }

    [Fact]
    public void Transparent_UdpOptions_AreCarriedIntoTheSettings()
    {
        var settings = EngineSettings.Transparent(UdpOptions());

        Assert.False(settings.Udp);
        Assert.Equal(TimeSpan.FromSeconds(90), settings.UdpTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2.5), settings.UdpDnsTimeout);
        Assert.Equal(77, settings.MaxUdpFlows);
    }

    [Fact]
    public void Server_UdpOptions_AreCarriedIntoTheSettings()
    {
        var settings = EngineSettings.Server(UdpOptions());

        Assert.False(settings.Udp);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.UdpTimeout);
        Assert.Equal(5, settings.MaxUdpAssociations);
    }

    [Fact]
    public void DefaultOptions_GiveTheSettingsRecordsOwnUdpDefaults()
    {
        // Two sources of defaults (the options and the records) must not drift apart.
        var options = new TransparentSocksOptions();
        var transparent = EngineSettings.Transparent(options);
        var server = EngineSettings.Server(options);
        var bareTransparent = new TransparentSettings();
        var bareServer = new Socks5ServerSettings();

        Assert.Equal(
            (bareTransparent.Udp, bareTransparent.UdpTimeout, bareTransparent.UdpDnsTimeout, bareTransparent.MaxUdpFlows),
            (transparent.Udp, transparent.UdpTimeout, transparent.UdpDnsTimeout, transparent.MaxUdpFlows));
        Assert.Equal((bareServer.Udp, bareServer.UdpTimeout, bareServer.MaxUdpAssociations), (server.Udp, server.UdpTimeout, server.MaxUdpAssociations));
    }

    [Fact]
    public void UpdateTransparent_Reload_TakesNewUdpTimeouts_ButKeepsDiversionAndTheFlowCapThatSizedThePath()
    {
        using var engine = new ProxyEngine(1, NullLoggerFactory.Instance);
        var path = engine.OpenTransparent(new TransparentSocksOptions(), udp: false);
        var next = UdpOptions();
        next.Transparent.Udp = true;

        engine.UpdateTransparent(next);

        Assert.False(path.Settings.Udp);
        Assert.Equal(TimeSpan.FromSeconds(90), path.Settings.UdpTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2.5), path.Settings.UdpDnsTimeout);
        // The flow table is sized at open; a new cap makes the controller rebuild the path instead.
        Assert.Equal(new TransparentSettings().MaxUdpFlows, path.Settings.MaxUdpFlows);
    }

    [Fact]
    public void Transparent_SniffOptions_AreCarriedIntoTheSettings()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.SniffTimeoutSeconds = 1.25;
        options.Transparent.SniffSkipPorts = [2222, 8025];
        options.Transparent.SniffOverride = false;
        options.Transparent.BypassDomains = ["*.Lan.Example"];

        var sniff = EngineSettings.Transparent(options).Sniff;

        Assert.True(sniff.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(1.25), sniff.Timeout);
        Assert.True(sniff.Skips(2222));
        Assert.True(sniff.Skips(8025));
        Assert.False(sniff.Skips(22));
        Assert.False(sniff.Skips(443));
        Assert.False(sniff.Override);
        Assert.True(sniff.BypassDomains.Matches("nas.lan.example"));
    }

    [Fact]
    public void Transparent_SniffOff_IsTheOffSettingsWhateverTheOtherKeysSay()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.Sniff = false;
        options.Transparent.BypassDomains = ["lan.example"];

        Assert.Same(SniffSettings.Off, EngineSettings.Transparent(options).Sniff);
        Assert.Equal([22, 25, 110, 143, 587], Enumerable.Range(0, 65536).Where(new SniffSettings().Skips));
    }

    [Fact]
    public void UpdateTransparent_Reload_TakesNewSniffSettingsForTheRunningPath()
    {
        using var engine = new ProxyEngine(1, NullLoggerFactory.Instance);
        var path = engine.OpenTransparent(new TransparentSocksOptions(), udp: false);
        var next = new TransparentSocksOptions();
        next.Transparent.Sniff = false;

        engine.UpdateTransparent(next);

        Assert.False(path.Settings.Sniff.Enabled);
    }
}
