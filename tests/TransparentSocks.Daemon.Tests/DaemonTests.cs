using System.Net;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests;

[Trait("Category", "Integration")]
public sealed class DaemonTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Daemon_ServerOnlyConfig_ServesCurlAndStopsCleanlyOnSigterm()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "from daemon\n");
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = DaemonProcess.Start($$"""
            // Comments are allowed in the config.
            {
              "server": { "enabled": true, "listen": "127.0.0.1:{{port}}", "allowPrivateDestinations": true },
            }
            """);
        Assert.True(await daemon.WaitListeningAsync(new IPEndPoint(IPAddress.Loopback, port)), daemon.Log);

        var curl = await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "20", "--socks5", $"127.0.0.1:{port}", target.Url.ToString()], Timeout);
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("from daemon\n", curl.Output);

        Assert.Equal(0, await daemon.TerminateAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("stopped", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_UpstreamOutbound_ChainsThroughMicrosocks()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "chained by daemon\n");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, "up", "up-pass");
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = DaemonProcess.Start($$"""
            {
              "server": { "enabled": true, "listen": "127.0.0.1:{{port}}", "allowPrivateDestinations": true, "outbound": "upstream",
                          "users": [ { "username": "c", "password": "c-pass" } ] },
              "upstream": { "address": "{{upstream.EndPoint}}", "username": "up", "password": "up-pass" }
            }
            """);
        Assert.True(await daemon.WaitListeningAsync(new IPEndPoint(IPAddress.Loopback, port)), daemon.Log);

        var curl = await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "20", "-x", $"socks5h://c:c-pass@127.0.0.1:{port}", target.Url.ToString()], Timeout);

        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("chained by daemon\n", curl.Output);
        Assert.True(await upstream.WaitForLogAsync($"connected to {target.EndPoint}", Timeout), upstream.Log);
        Assert.DoesNotContain("up-pass", daemon.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("c-pass", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_InvalidField_RefusesToStartNamingTheField()
    {
        var path = DaemonProcess.WriteConfig("""{ "server": { "enabled": true, "listen": "not-an-endpoint" } }""");

        var result = await DaemonProcess.RunToExitAsync("--config", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("server.listen", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_PublicListenWithoutAuth_RefusesNamingTheSetting()
    {
        var path = DaemonProcess.WriteConfig("""{ "server": { "enabled": true, "listen": "0.0.0.0:1080" } }""");

        var result = await DaemonProcess.RunToExitAsync("--config", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("allowNoAuthOnPublicAddress", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_PublicListenWithoutAuthExplicitlyAllowed_Starts()
    {
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Any);
        await using var daemon = DaemonProcess.Start($$"""
            { "server": { "enabled": true, "listen": "0.0.0.0:{{port}}", "allowNoAuthOnPublicAddress": true } }
            """);

        Assert.True(await daemon.WaitListeningAsync(new IPEndPoint(IPAddress.Any, port)), daemon.Log);
        Assert.Equal(0, await daemon.TerminateAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Daemon_ListenPortTaken_ExitsWithMessageNamingListen()
    {
        using var squatter = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var port = ((IPEndPoint)squatter.LocalEndPoint!).Port;
        var path = DaemonProcess.WriteConfig($$"""{ "server": { "enabled": true, "listen": "127.0.0.1:{{port}}" } }""");

        var result = await DaemonProcess.RunToExitAsync("--config", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("server.listen", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_CheckOnShippedExampleConfig_ReportsValid()
    {
        var example = Path.Combine(RepoRoot(), "packaging", "transparentsocks.json");

        var result = await DaemonProcess.RunToExitAsync("--config", example, "--check");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("valid", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_StartedUnderNohup_StillReloadsOnSighup()
    {
        var first = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        var second = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        var config = DaemonProcess.WriteConfig($$"""{ "server": { "enabled": true, "listen": "{{first}}" } }""");
        try
        {
            // nohup execs the daemon with SIGHUP ignored, which the daemon inherits: the way an operator's shell may start it.
            await using var daemon = ExternalProcess.Start("nohup", ["dotnet", DaemonProcess.DaemonDll, "--config", config]);
            Assert.True(await ListenProbe.WaitAsync(daemon, first, attempts: 150), daemon.Describe());
            // The listener is up before the signal handlers are; this line comes after them.
            Assert.True(await daemon.WaitForTextAsync("transparentsocksd started", Timeout), daemon.Describe());

            await File.WriteAllTextAsync(config, DaemonProcess.WithControlSocket(
                $$"""{ "server": { "enabled": true, "listen": "{{second}}" } }""", DaemonProcess.ControlSocketOf(config)));
            await ExternalProcess.RunOrThrowAsync("kill", ["-HUP", daemon.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], Timeout);

            Assert.True(await daemon.WaitForTextAsync("configuration reloaded", Timeout), daemon.Describe());
            Assert.True(await ListenProbe.WaitAsync(daemon, second, attempts: 150), daemon.Describe());
            Assert.False(daemon.HasExited, daemon.Describe());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
