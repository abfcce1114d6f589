using System.Net;
using TransparentSocks.Control;
using TransparentSocks.Options;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>`transparentsocks enable/disable/show IFACE` against a daemon on a lab gateway: the diversion is real.</summary>
[Trait("Category", "Integration")]
public sealed class EnableDisableCliTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    [Fact]
    public async Task EnableAndDisable_ThroughCli_DivertAndStopDiverting_AndPersistAcrossRestart()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-cli");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, interfaces: "[]"));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);
        var iface = lab.ClientInterface;

        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/before")).ExitCode);
        Assert.Equal(lab.ClientV4, target.Requests[^1].Client.Address);

        var enable = await Cli.RunAsync(socket, "enable", iface, "--max-connections", "5");
        Assert.True(enable.ExitCode == 0, enable.Error + daemon.Log);
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/during")).ExitCode);
        Assert.Equal(lab.GatewayTargetSideV4, target.Requests[^1].Client.Address);

        var shown = await Cli.JsonAsync(socket, J.InterfaceInfo, "show", iface);
        Assert.Equal(iface, shown.Name);
        Assert.Equal(5, shown.MaxConnections);
        Assert.Equal(1, shown.TotalSessions);
        Assert.True(shown.DivertedPackets > 0 && shown.DivertedBytes > 0, $"{shown.DivertedPackets}/{shown.DivertedBytes}");
        Assert.True(shown.BytesDown > 0);
        var status = await Cli.JsonAsync(socket, J.StatusResponse, "show");
        Assert.Contains(status.Interfaces, i => i.Name == iface);
        var upstreams = await Cli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams");
        Assert.Contains(iface, upstreams.Upstreams.Single(u => u.Name == "default").UsedBy);
        var human = await Cli.RunAsync(socket, "show", iface);
        Assert.True(human.ExitCode == 0, human.Error);
        Assert.Contains(iface, human.Output, StringComparison.Ordinal);

        // It survives a crash and a restart, from the file the API wrote.
        await daemon.KillAsync();
        await daemon.RestartAsync();
        Assert.Equal(5, (await Cli.JsonAsync(socket, J.InterfaceInfo, "show", iface)).MaxConnections);
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/restarted")).ExitCode);
        Assert.Equal(lab.GatewayTargetSideV4, target.Requests[^1].Client.Address);

        var disable = await Cli.RunAsync(socket, "disable", iface);
        Assert.True(disable.ExitCode == 0, disable.Error);
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/after")).ExitCode);
        Assert.Equal(lab.ClientV4, target.Requests[^1].Client.Address);
        Assert.Equal(3, (await Cli.RunAsync(socket, "show", iface)).ExitCode);
        Assert.Equal(3, (await Cli.RunAsync(socket, "disable", iface)).ExitCode);
    }

    [Fact]
    public async Task EnableUpstream_ThroughAGroup_DivertsThroughTheNamedUpstream_AndPinsItAgainstRemoval()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-cliup");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var named = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);

        // Nothing listens on the default upstream, so a diverted connection that works went through the named one.
        var dead = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, dead, interfaces: "[]"));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);
        var iface = lab.ClientInterface;

        Assert.Equal(0, (await Cli.RunAsync(socket, "upstream", "add", "via", named.EndPoint.ToString())).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync(socket, "group", "set", "g", "via")).ExitCode);
        var enable = await Cli.RunAsync(socket, "enable", iface, "--upstream", "g");
        Assert.True(enable.ExitCode == 0, enable.Error + daemon.Log);

        var curl = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/named");
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal(lab.GatewayTargetSideV4, target.Requests[^1].Client.Address);
        Assert.Equal("g", (await Cli.JsonAsync(socket, J.InterfaceInfo, "show", iface)).Upstream);
        var upstreams = (await Cli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        Assert.Contains(iface, upstreams.Single(u => u.Name == "g").UsedBy);
        Assert.True(upstreams.Single(u => u.Name == "via").Connections >= 1, daemon.Log);
        var saved = ConfigLoader.Parse(await File.ReadAllTextAsync(daemon.ConfigPath), null).Options!.Transparent.Interfaces.Single();
        Assert.Equal((iface, "g", null), (saved.Name, saved.Upstream, saved.Proxy));

        var removeUpstream = await Cli.RunAsync(socket, "upstream", "remove", "via");
        Assert.Equal(1, removeUpstream.ExitCode);
        Assert.Contains("upstream 'via' is in use by groups[0] (g)", removeUpstream.Error, StringComparison.Ordinal);
        var removeGroup = await Cli.RunAsync(socket, "group", "remove", "g");
        Assert.Equal(1, removeGroup.ExitCode);
        Assert.Contains($"group 'g' is in use by transparent.interfaces[0] ({iface})", removeGroup.Error, StringComparison.Ordinal);

        // A proxy of its own replaces the named upstream, which then may go.
        Assert.Equal(0, (await Cli.RunAsync(socket, "enable", iface, "--proxy", named.EndPoint.ToString())).ExitCode);
        Assert.Null((await Cli.JsonAsync(socket, J.InterfaceInfo, "show", iface)).Upstream);
        var remove = await Cli.RunAsync(socket, "group", "remove", "g");
        Assert.True(remove.ExitCode == 0, remove.Error);
        var after = ConfigLoader.Parse(await File.ReadAllTextAsync(daemon.ConfigPath), null).Options!;
        Assert.Empty(after.Groups);
        Assert.Equal((null, named.EndPoint.ToString()), (after.Transparent.Interfaces.Single().Upstream, after.Transparent.Interfaces.Single().Proxy));
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/own-proxy")).ExitCode);
    }
}
