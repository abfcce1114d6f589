using TransparentSocks.Addressing;
using TransparentSocks.Nft;
using TransparentSocks.Options;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>The kernel's own parser is the judge of a ruleset: every shape we render must load (nft -c, in a namespace of the test's own).</summary>
[Trait("Category", "Integration")]
public sealed class NftRulesetKernelTests
{
    public static TheoryData<TransparentMode, bool, bool> Shapes()
    {
        var data = new TheoryData<TransparentMode, bool, bool>();
        foreach (var mode in new[] { TransparentMode.Tproxy, TransparentMode.Redirect })
        {
            foreach (var udp in new[] { false, true })
            {
                foreach (var ipv6 in new[] { false, true })
                {
                    data.Add(mode, udp, ipv6);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Render_EveryShape_IsAcceptedByTheKernel(TransparentMode mode, bool udp, bool ipv6)
    {
        var spec = new NftRulesetSpec
        {
            Mode = mode,
            Udp = udp,
            Ipv6 = ipv6,
            Interfaces = ["tsk-eth1", "wlan0"],
            Bypass = [IpNetwork.Parse("10.0.0.0/8"), IpNetwork.Parse("fc00::/7")],
            UpstreamSources = [IpNetwork.Parse("192.0.2.10/32"), IpNetwork.Parse("2001:db8::10/128")],
        };
        var path = Path.Combine(Path.GetTempPath(), $"tsk-nft-{Guid.NewGuid():N}.nft");
        await File.WriteAllTextAsync(path, NftRuleset.Render(spec));
        try
        {
            await using var ns = await NetworkNamespace.CreateAsync("tsknft");
            var result = await ns.ExecAsync("nft", "-c", "-f", path);
            Assert.True(result.ExitCode == 0, $"nft refused the {mode}/udp={udp}/ipv6={ipv6} ruleset: {result.Error}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TproxyProbe_OnAKernelWithTproxy_IsAcceptedAndLeavesNoTable(bool ipv6)
    {
        // A refusal here would make the daemon leave UDP undiverted under REDIRECT on a kernel that can divert it.
        var path = Path.Combine(Path.GetTempPath(), $"tsk-nft-{Guid.NewGuid():N}.nft");
        await File.WriteAllTextAsync(path, NftRuleset.RenderTproxyProbe(ipv6));
        try
        {
            await using var ns = await NetworkNamespace.CreateAsync("tsknft");
            var result = await ns.ExecAsync("nft", "-c", "-f", path);
            Assert.True(result.ExitCode == 0, $"nft refused the probe: {result.Error}");

            var tables = await ns.ExecAsync("nft", "list", "tables");
            Assert.Equal(string.Empty, tables.Output.Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
