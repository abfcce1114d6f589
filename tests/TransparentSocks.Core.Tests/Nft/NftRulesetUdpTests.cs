using TransparentSocks.Addressing;
using TransparentSocks.Nft;
using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Nft;

[Trait("Category", "Unit")]
public sealed class NftRulesetUdpTests
{
    private static NftRulesetSpec Spec(TransparentMode mode, bool udp, bool ipv6 = true)
        => NftRulesetTests.ReferenceSpec(mode) with { Udp = udp, Ipv6 = ipv6 };

    private static string[] Lines(string text) => [.. text.Split('\n').Select(l => l.Trim())];

    [Fact]
    public void Render_UdpOff_DivertsNoUdp()
    {
        foreach (var mode in new[] { TransparentMode.Tproxy, TransparentMode.Redirect })
        {
            Assert.DoesNotContain("udp", NftRuleset.Render(Spec(mode, udp: false)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Render_TproxyWithUdp_TproxiesUdpOfBothFamiliesAndFailsClosed()
    {
        var lines = Lines(NftRuleset.Render(Spec(TransparentMode.Tproxy, udp: true)));
        Assert.Contains("meta l4proto != { tcp, udp } return", lines);
        Assert.Contains("meta l4proto udp tproxy ip to 127.0.0.1:12345 meta mark set 0x00005453 accept", lines);
        Assert.Contains("meta l4proto udp tproxy ip6 to [::1]:12345 meta mark set 0x00005453 accept", lines);
        Assert.Contains("meta nfproto ipv4 meta l4proto udp drop", lines);
        Assert.Contains("meta nfproto ipv6 meta l4proto udp drop", lines);

        // The bypass sets come before the first tproxy rule, so UDP to a bypassed address is never diverted.
        Assert.True(Array.IndexOf(lines, "ip daddr @bypass_v4 return") < Array.FindIndex(lines, l => l.Contains("udp tproxy", StringComparison.Ordinal)));
    }

    [Fact]
    public void Render_TproxyWithUdp_KeepsTheSocketShortcutForTcpOnly()
    {
        // A datagram matched by "socket transparent" would reach a cached reply socket bound to its destination.
        var lines = Lines(NftRuleset.Render(Spec(TransparentMode.Tproxy, udp: true)));
        Assert.All(lines.Where(l => l.Contains("socket transparent", StringComparison.Ordinal)), l => Assert.StartsWith("meta l4proto tcp ", l, StringComparison.Ordinal));
    }

    [Fact]
    public void Render_RedirectWithUdp_TproxiesUdpInAMangleChainOfItsOwn()
    {
        var text = NftRuleset.Render(Spec(TransparentMode.Redirect, udp: true));
        var chain = text[text.IndexOf("chain prerouting_udp {", StringComparison.Ordinal)..];
        chain = chain[..chain.IndexOf('}')];
        var lines = Lines(chain);
        Assert.Contains("type filter hook prerouting priority mangle; policy accept;", lines);
        Assert.Contains("meta mark 0x00005454 return", lines);
        Assert.Contains("iifname != @interfaces return", lines);
        Assert.Contains("meta l4proto udp tproxy ip to 127.0.0.1:12345 meta mark set 0x00005453 accept", lines);
        Assert.Contains("meta nfproto ipv4 meta l4proto udp drop", lines);
        Assert.DoesNotContain(lines, l => l.Contains("tcp", StringComparison.Ordinal));

        // The nat chain still redirects only TCP.
        Assert.Contains("meta l4proto tcp redirect to :12345", Lines(text));
    }

    [Fact]
    public void Render_UdpWithoutIpv6_LeavesIpv6UdpAlone()
    {
        foreach (var mode in new[] { TransparentMode.Tproxy, TransparentMode.Redirect })
        {
            var text = NftRuleset.Render(Spec(mode, udp: true, ipv6: false));
            Assert.DoesNotContain("udp tproxy ip6", text, StringComparison.Ordinal);
            Assert.DoesNotContain("meta nfproto ipv6 meta l4proto udp drop", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void NftRulesetSpec_Default_DivertsUdpAsTheConfigDefaultDoes()
        => Assert.Equal(new TransparentOptions().Udp, new NftRulesetSpec().Udp);

    [Fact]
    public void RenderTproxyProbe_NeverNamesTheDaemonsTable()
    {
        // Were the probe ever committed, it must not replace or touch the live table.
        foreach (var ipv6 in new[] { false, true })
        {
            var probe = NftRuleset.RenderTproxyProbe(ipv6);
            Assert.DoesNotContain($"{NftRuleset.QualifiedTable} ", probe, StringComparison.Ordinal);
            Assert.DoesNotContain("delete", probe, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void RenderTproxyProbe_ProbesUdpForTheFamiliesDiverted()
    {
        var v4 = Lines(NftRuleset.RenderTproxyProbe(ipv6: false));
        var both = Lines(NftRuleset.RenderTproxyProbe(ipv6: true));

        Assert.Contains("meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:1 meta mark set 0x1 accept", v4);
        Assert.DoesNotContain(v4, l => l.Contains("ip6", StringComparison.Ordinal));
        Assert.Contains("meta l4proto { tcp, udp } tproxy ip6 to [::1]:1 meta mark set 0x1 accept", both);
    }
}
