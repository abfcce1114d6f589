using System.Net;
using TransparentSocks.Nft;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>Safety: no loops, nothing left behind, exactly one of everything after a crash, nft failures change nothing.</summary>
[Trait("Category", "Integration")]
public sealed class TransparentSafetyTests
{
    [Fact]
    public async Task UpstreamBehindEnabledInterface_DoesNotLoop()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-loop");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        var upstreamAddress = IPAddress.Parse("198.51.100.3");
        await lab.AddClientAddressAsync(upstreamAddress);

        // The upstream lives on the client side: the daemon reaches it through the enabled interface, and the
        // upstream's own connection to the target crosses that interface again.
        await using var upstream = lab.Client.Start("microsocks", "-i", upstreamAddress.ToString(), "-p", "1080", "-b", upstreamAddress.ToString());
        Assert.True(await ListenProbe.WaitAsync(upstream, new IPEndPoint(upstreamAddress, 1080)), upstream.Describe());
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, new IPEndPoint(upstreamAddress, 1080)));

        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");

        Assert.True(result.ExitCode == 0, result.Error + daemon.Log);
        Assert.Equal(upstreamAddress, Assert.Single(target.Requests).Client.Address);
        Assert.Equal(1, Count(upstream.Error + upstream.Output, "connected to"));
        Assert.Equal(1, Count(daemon.Log, " -> 203.0.113.2:80 via "));
    }

    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task CleanStop_LeavesNoRulesOrRoutes(string mode)
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-stop");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, mode));
        Assert.Contains("transparentsocks", await NftAsync(lab.Gateway, "list", "tables"), StringComparison.Ordinal);

        Assert.Equal(0, await daemon.StopAsync());

        Assert.DoesNotContain("transparentsocks", await NftAsync(lab.Gateway, "list", "ruleset"), StringComparison.Ordinal);
        Assert.DoesNotContain("5453", await IpAsync(lab.Gateway, "-4", "rule"), StringComparison.Ordinal);
        Assert.DoesNotContain("5453", await IpAsync(lab.Gateway, "-6", "rule"), StringComparison.Ordinal);
        // An emptied table either lists nothing or no longer exists at all.
        Assert.Equal(string.Empty, (await lab.Gateway.ExecAsync("ip", "-4", "route", "show", "table", "5453")).Output.Trim());
        Assert.Equal(string.Empty, (await lab.Gateway.ExecAsync("ip", "-6", "route", "show", "table", "5453")).Output.Trim());
    }

    [Fact]
    public async Task KillAndRestart_LeavesExactlyOneTableAndOneRulePerFamily()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-kill");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint));

        await daemon.KillAsync();
        await daemon.RestartAsync();

        Assert.Equal(1, Count(await NftAsync(lab.Gateway, "list", "tables"), "table inet transparentsocks"));
        Assert.Equal(1, Count(await IpAsync(lab.Gateway, "-4", "rule"), "lookup 5453"));
        Assert.Equal(1, Count(await IpAsync(lab.Gateway, "-6", "rule"), "lookup 5453"));
        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");
        Assert.True(result.ExitCode == 0, result.Error + daemon.Log);
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(target.Requests).Client.Address);
    }

    [Fact]
    public async Task BrokenBypassEntryInReload_IsRefusedAndTheRulesetStays()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-nftf");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint));
        var before = await NftAsync(lab.Gateway, "list", "table", "inet", "transparentsocks");

        Assert.False(await daemon.ReloadAsync(Config(lab, upstream.EndPoint, bypass: """[ "203.0.113.0/33" ]""")));

        Assert.True(await daemon.Process.WaitForTextAsync("transparent.bypass[0]", TimeSpan.FromSeconds(10)), daemon.Log);
        Assert.Equal(before, await NftAsync(lab.Gateway, "list", "table", "inet", "transparentsocks"));
        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(target.Requests).Client.Address);
    }

    [Fact]
    public async Task NftRefusingPartOfATransaction_AppliesNoneOfIt()
    {
        await using var ns = await NetworkNamespace.CreateAsync("tsd-atom");
        var spec = new NftRulesetSpec { Interfaces = ["eth1"] };
        await ApplyAsync(ns, NftRuleset.Render(spec));
        var before = await NftAsync(ns, "list", "table", "inet", "transparentsocks");

        // An enable followed by an entry the kernel refuses: nft must apply neither.
        var broken = NftRuleset.RenderEnable("eth2") + "add element inet transparentsocks bypass_v4 { 10.0.0.0/33 }\n";
        var refused = await ns.ExecAsync("nft", "-f", WriteTemp(broken));

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal(before, await NftAsync(ns, "list", "table", "inet", "transparentsocks"));
    }

    [Theory]
    [InlineData("transparentsocks.nft")]
    [InlineData("transparentsocks-redirect.nft")]
    public async Task ReferenceRuleset_IsAcceptedByNftCheck(string file)
    {
        await using var ns = await NetworkNamespace.CreateAsync("tsd-nftc");
        var path = Path.Combine(RepoRoot(), "nft", file);

        var result = await ns.ExecAsync("nft", "-c", "-f", path);

        Assert.True(result.ExitCode == 0, result.Error);
    }

    private static async Task ApplyAsync(NetworkNamespace ns, string script)
    {
        var result = await ns.ExecAsync("nft", "-f", WriteTemp(script));
        Assert.True(result.ExitCode == 0, result.Error);
    }

    private static string WriteTemp(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"tsd-nft-{Guid.NewGuid():N}.nft");
        File.WriteAllText(path, text);
        return path;
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));
}
