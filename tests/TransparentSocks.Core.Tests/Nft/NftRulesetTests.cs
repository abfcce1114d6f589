using System.Runtime.CompilerServices;
using TransparentSocks.Addressing;
using TransparentSocks.Nft;
using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Nft;

[Trait("Category", "Unit")]
public sealed class NftRulesetTests
{
    /// <summary>The known configuration the reference files in nft/ are rendered from.</summary>
    internal static NftRulesetSpec ReferenceSpec(TransparentMode mode) => new()
    {
        Mode = mode,
        Port = 12345,
        Fwmark = 0x5453,
        OutboundMark = 0x5454,
        Ipv6 = true,
        Udp = true,
        Interfaces = ["eth1", "wlan0"],
        Bypass =
        [
            .. new[]
            {
                "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                "192.0.0.0/24", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
                "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "fc00::/7", "fe80::/10", "ff00::/8",
            }.Select(IpNetwork.Parse),
        ],
        UpstreamSources = [IpNetwork.Parse("192.0.2.10/32"), IpNetwork.Parse("2001:db8::10/128")],
    };

    [Theory]
    [InlineData(TransparentMode.Tproxy, "transparentsocks.nft")]
    [InlineData(TransparentMode.Redirect, "transparentsocks-redirect.nft")]
    public void Render_ReferenceConfig_EqualsFileInNftFolder(TransparentMode mode, string file)
    {
        var path = Path.Combine(RepoRoot(), "nft", file);
        var rendered = NftRuleset.Render(ReferenceSpec(mode));
        if (Environment.GetEnvironmentVariable("UPDATE_NFT_REFERENCE") == "1")
        {
            File.WriteAllText(path, rendered);
        }

        Assert.Equal(File.ReadAllText(path), rendered);
    }

    [Fact]
    public void Render_Tproxy_NewSynsSkipTheSocketShortcutAndLoopbackIsNeverDiverted()
    {
        var lines = NftRuleset.Render(ReferenceSpec(TransparentMode.Tproxy)).Split('\n').Select(l => l.Trim()).ToArray();

        // A SYN that meets a TIME_WAIT socket of ours must go to tproxy, which hands it to the listener.
        var shortcut = Assert.Single(lines, l => l.Contains("socket transparent 1", StringComparison.Ordinal));
        Assert.Contains("tcp flags & (fin | syn | rst | ack) != syn", shortcut, StringComparison.Ordinal);
        Assert.EndsWith("goto diverted", shortcut, StringComparison.Ordinal);
        var loopback = Array.IndexOf(lines, "meta iiftype loopback return");
        Assert.True(loopback >= 0 && loopback < Array.IndexOf(lines, shortcut), "loopback returns before any socket lookup");
    }

    [Fact]
    public void Render_Always_ReplacesTableInsteadOfAddingOne()
    {
        var text = NftRuleset.Render(ReferenceSpec(TransparentMode.Tproxy));
        var lines = text.Split('\n').Where(l => !l.StartsWith('#')).ToArray();

        Assert.Equal("table inet transparentsocks", lines[0]);
        Assert.Equal("delete table inet transparentsocks", lines[1]);
        Assert.Single(lines, l => l.StartsWith("table inet transparentsocks {", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_NoInterfacesNoExtras_OmitsEmptyElementLists()
    {
        var text = NftRuleset.Render(new NftRulesetSpec());

        Assert.DoesNotContain("elements = {  }", text, StringComparison.Ordinal);
        Assert.DoesNotContain("counter iface_", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Ipv6Off_HasNoIpv6Divert()
    {
        var tproxy = NftRuleset.Render(new NftRulesetSpec { Ipv6 = false });
        var redirect = NftRuleset.Render(new NftRulesetSpec { Ipv6 = false, Mode = TransparentMode.Redirect });

        Assert.DoesNotContain("tproxy ip6", tproxy, StringComparison.Ordinal);
        Assert.Contains("meta nfproto ipv6 return", redirect, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Tproxy_SocketRuleComesBeforeInterfaceCheck()
    {
        // Connections diverted before a disable must keep reaching their socket.
        var text = NftRuleset.Render(ReferenceSpec(TransparentMode.Tproxy));

        Assert.True(
            text.IndexOf("socket transparent 1", StringComparison.Ordinal) < text.IndexOf("iifname != @interfaces", StringComparison.Ordinal));
    }

    [Fact]
    public void RenderEnableAndDisable_TouchOnlyElementsAndTheCounter()
    {
        var enable = NftRuleset.RenderEnable("eth2");
        var disable = NftRuleset.RenderDisable("eth2");

        Assert.Equal(
            "add counter inet transparentsocks iface_eth2\n"
            + "add element inet transparentsocks interface_counters { \"eth2\" : \"iface_eth2\" }\n"
            + "add element inet transparentsocks interfaces { \"eth2\" }\n",
            enable);
        Assert.Equal(
            "delete element inet transparentsocks interfaces { \"eth2\" }\n"
            + "delete element inet transparentsocks interface_counters { \"eth2\" }\n"
            + "delete counter inet transparentsocks iface_eth2\n",
            disable);
        Assert.DoesNotContain("rule", enable + disable, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("eth1", "iface_eth1")]
    [InlineData("br_lan", "iface_br_lan")]
    public void CounterName_PlainNames_AreKept(string iface, string expected) => Assert.Equal(expected, NftRuleset.CounterName(iface));

    [Fact]
    public void CounterName_NamesWithPunctuation_StayDistinct()
    {
        var dot = NftRuleset.CounterName("eth0.100");
        var dash = NftRuleset.CounterName("eth0-100");

        Assert.StartsWith("iface_eth0_100_", dot, StringComparison.Ordinal);
        Assert.NotEqual(dot, dash);
        Assert.All(dot, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c == '_'));
    }

    private static string RepoRoot([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));
}
