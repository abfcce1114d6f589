using System.Globalization;
using System.Net;
using System.Text.Json;
using TransparentSocks.Control;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>CLI → control socket → daemon, end to end, with the effect checked for real.</summary>
[Trait("Category", "Integration")]
public sealed class ControlPlaneTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ServerStartAndStop_ThroughCli_ReallyAcceptAndThenRefuseCurl()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "served\n");
        await using var daemon = await ControlledDaemon.StartAsync("""{ "server": { "allowPrivateDestinations": true } }""");
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var passwordFile = daemon.WriteFile("alice.pass", "s3cret-pw\n");

        var start = await Cli.RunAsync(daemon.Socket, "server", "start", $"127.0.0.1:{port}", "--username", "alice", "--password-file", passwordFile);
        Assert.True(start.ExitCode == 0, start.Error);

        var curl = await CurlAsync($"socks5h://alice:s3cret-pw@127.0.0.1:{port}", target.Url.ToString());
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("served\n", curl.Output);

        var server = await Cli.JsonAsync(daemon.Socket, J.ServerInfo, "show", "server");
        Assert.True(server.Running);
        Assert.Equal($"127.0.0.1:{port}", server.Listen);
        Assert.True(server.AuthRequired);
        Assert.Equal(1, server.TotalSessions);
        Assert.True(server.BytesDown >= "served\n".Length);

        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "server", "stop")).ExitCode);
        Assert.NotEqual(0, (await CurlAsync($"socks5h://alice:s3cret-pw@127.0.0.1:{port}", target.Url.ToString())).ExitCode);
        Assert.False((await Cli.JsonAsync(daemon.Socket, J.ServerInfo, "show", "server")).Running);

        // The password reached the file (so it survives a restart) and nowhere else.
        var status = await Cli.RunAsync(daemon.Socket, "show", "--json");
        Assert.DoesNotContain("s3cret-pw", status.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", daemon.Log, StringComparison.Ordinal);
        Assert.Matches(@"by uid 0 pid \d+", await daemon.WaitForLogAsync("server start"));
    }

    [Theory]
    [InlineData("0.0001", "0.0001 is out of range")]
    [InlineData("1e-9", "1E-09 is out of range")]
    [InlineData("0.0015", "0.0015 is not a whole number of milliseconds")]
    [InlineData("1e400", "is too large to be a number of seconds")]
    [InlineData("3e6", "3000000 is out of range")]
    public async Task SetTimeout_NotWholeMillisecondsInRange_IsRefusedNamingTimeoutAndNothingChanges(string seconds, string reason)
    {
        await using var daemon = await ControlledDaemon.StartAsync("""{ "server": { "allowPrivateDestinations": true } }""");
        var config = await File.ReadAllTextAsync(daemon.ConfigPath);

        // Past the CLI's own check, as a raw API client would send it.
        var raw = await ExternalProcess.RunAsync(
            "curl", ["-sS", "--unix-socket", daemon.Socket, "-X", "PUT", "-d", $$"""{"seconds":{{seconds}}}""", "http://localhost" + ControlApi.Timeout], Timeout);
        var error = JsonSerializer.Deserialize(raw.Output, J.ErrorResponse)!.Error;

        Assert.Equal(ErrorCodes.InvalidArgument, error.Code);
        Assert.Equal("timeout", error.Field);
        Assert.Equal($"timeout: {reason}; must be between 0.001 and 2147483 seconds, in whole milliseconds", error.Message);
        Assert.Equal(300, (await Cli.JsonAsync(daemon.Socket, J.StatusResponse, "show")).Settings.IdleTimeoutSeconds);
        Assert.Equal(config, await File.ReadAllTextAsync(daemon.ConfigPath));

        var cli = await Cli.RunAsync(daemon.Socket, "set", "timeout", seconds);
        Assert.Equal(2, cli.ExitCode);
        Assert.Contains($"the idle timeout: {reason}; must be between 0.001 and 2147483 seconds", cli.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetCommands_ApplyLive_AndTheSameShowComesBackAfterARestart()
    {
        await using var daemon = await ControlledDaemon.StartAsync($$"""{ "server": { "enabled": true, "listen": "{{FreeListen()}}", "allowPrivateDestinations": true } }""");
        var upstreamPassword = daemon.WriteFile("up.pass", "upstream-secret");

        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "set", "timeout", "42")).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "set", "pooling", "on")).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "set", "max-pool-size", "4")).ExitCode);
        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "set", "verbose", "on")).ExitCode);
        var endpoint = await Cli.RunAsync(daemon.Socket, "set", "endpoint", "127.0.0.1:1081", "--username", "up", "--password-file", upstreamPassword);
        Assert.True(endpoint.ExitCode == 0, endpoint.Error);

        var before = await Cli.JsonAsync(daemon.Socket, J.StatusResponse, "show");
        Assert.Equal(42, before.Settings.IdleTimeoutSeconds);
        Assert.True(before.Settings.Pooling);
        Assert.Equal(4, before.Settings.MaxPoolSize);
        Assert.True(before.Settings.Verbose);
        Assert.Equal("127.0.0.1:1081", before.Upstream.Address);
        Assert.Equal("up", before.Upstream.Username);
        Assert.True(before.Upstream.HasPassword);

        // Verbose is live: a debug line appears without a restart.
        Assert.Contains("[DBG]", await daemon.WaitForLogAsync("[DBG]"), StringComparison.Ordinal);

        await daemon.RestartAsync();
        var after = await Cli.JsonAsync(daemon.Socket, J.StatusResponse, "show");
        Assert.Equal(JsonSerializer.Serialize(before.Settings, J.SettingsInfo), JsonSerializer.Serialize(after.Settings, J.SettingsInfo));
        Assert.Equal(JsonSerializer.Serialize(before.Upstream, J.UpstreamInfo), JsonSerializer.Serialize(after.Upstream, J.UpstreamInfo));
        Assert.Equal(before.Server.Listen is null, after.Server.Listen is null);
        Assert.DoesNotContain("upstream-secret", JsonSerializer.Serialize(after, J.StatusResponse), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadInput_IsRefusedWithAClearError_AndTheRunningStateIsUnchanged()
    {
        await using var daemon = await ControlledDaemon.StartAsync($$"""{ "server": { "enabled": true, "listen": "{{FreeListen()}}" } }""");
        var before = await Cli.RunAsync(daemon.Socket, "show", "--json");

        var badAddress = await Cli.RunAsync(daemon.Socket, "set", "endpoint", "not an address");
        Assert.Equal(2, badAddress.ExitCode);
        Assert.Contains("not an address", badAddress.Error, StringComparison.Ordinal);

        var unknown = await Cli.RunAsync(daemon.Socket, "enable", "nosuch0");
        Assert.Equal(3, unknown.ExitCode);
        Assert.Contains("nosuch0", unknown.Error, StringComparison.Ordinal);

        // Raw API users read the message as written, not with quotes escaped for HTML.
        var rawUnknown = await ExternalProcess.RunAsync(
            "curl", ["-sS", "--unix-socket", daemon.Socket, "-X", "POST", "-d", "{}", "http://localhost" + ControlApi.InterfaceEnable("nosuch0")], Timeout);
        Assert.Contains("interface 'nosuch0' does not exist", rawUnknown.Output, StringComparison.Ordinal);

        var negative = await Cli.RunAsync(daemon.Socket, "set", "timeout", "-5");
        Assert.Equal(2, negative.ExitCode);

        // A malformed body, sent past the CLI's own checks.
        var raw = await ExternalProcess.RunAsync("curl", ["-sS", "--unix-socket", daemon.Socket, "-X", "PUT", "-d", "{ not json", "http://localhost" + ControlApi.Timeout], Timeout);
        var error = JsonSerializer.Deserialize(raw.Output, J.ErrorResponse)!;
        Assert.Equal(ErrorCodes.InvalidJson, error.Error.Code);

        // The daemon's own validation, reached directly: a timeout of zero names its field.
        var zero = await ExternalProcess.RunAsync("curl", ["-sS", "--unix-socket", daemon.Socket, "-X", "PUT", "-d", """{"seconds":0}""", "http://localhost" + ControlApi.Timeout], Timeout);
        Assert.Equal("timeout", JsonSerializer.Deserialize(zero.Output, J.ErrorResponse)!.Error.Field);

        // A broken file is refused by reload, and nothing changes.
        var config = await File.ReadAllTextAsync(daemon.ConfigPath);
        await File.WriteAllTextAsync(daemon.ConfigPath, """{ "server": { "listen": "nope" } }""");
        var reload = await Cli.RunAsync(daemon.Socket, "reload");
        Assert.NotEqual(0, reload.ExitCode);
        Assert.Contains("server.listen", reload.Error, StringComparison.Ordinal);
        await File.WriteAllTextAsync(daemon.ConfigPath, config);

        var after = await Cli.RunAsync(daemon.Socket, "show", "--json");
        Assert.Equal(Normalize(before.Output), Normalize(after.Output));
    }

    [Fact]
    public async Task Reload_ReReadsTheFile()
    {
        await using var daemon = await ControlledDaemon.StartAsync($$"""{ "server": { "enabled": true, "listen": "{{FreeListen()}}", "idleTimeout": 10 } }""");
        var config = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(daemon.ConfigPath))!;
        config["server"]!["idleTimeout"] = 77;
        await File.WriteAllTextAsync(daemon.ConfigPath, config.ToJsonString());

        var reload = await Cli.RunAsync(daemon.Socket, "reload");

        Assert.True(reload.ExitCode == 0, reload.Error);
        Assert.Equal(77, (await Cli.JsonAsync(daemon.Socket, J.StatusResponse, "show")).Settings.IdleTimeoutSeconds);
    }

    [Fact]
    public async Task ShowSessions_ListsALiveSessionWithItsBytes()
    {
        await using var echo = new EchoTarget(IPAddress.Loopback);
        await using var daemon = await ControlledDaemon.StartAsync($$"""{ "server": { "enabled": true, "listen": "{{FreeListen()}}", "allowPrivateDestinations": true } }""");
        var server = await Cli.JsonAsync(daemon.Socket, J.ServerInfo, "show", "server");
        using var client = await Socks5TestClient.ConnectAsync(IPEndPoint.Parse(server.Listen!));
        await Socks5TestClient.HandshakeAsync(client, Addressing.Destination.FromEndPoint(echo.EndPoint));
        await client.SendAsync("12345"u8.ToArray());
        await Socks5TestClient.ReadExactlyAsync(client, 5);

        var sessions = await Cli.JsonAsync(daemon.Socket, J.SessionsResponse, "show", "sessions", "--iface", "server", "--limit", "10");
        var session = Assert.Single(sessions.Sessions);
        Assert.Equal("server", session.Inbound);
        Assert.Equal(echo.EndPoint.ToString(), session.Destination);
        Assert.Equal("established", session.State);
        Assert.Equal(5, session.BytesTx);
        Assert.Equal(5, session.BytesRx);

        // Only the transparent path sniffs; a SOCKS5 client already named its destination.
        Assert.Null(session.Host);
        Assert.Empty((await Cli.JsonAsync(daemon.Socket, J.SessionsResponse, "show", "sessions", "--iface", "eth9")).Sessions);

        var human = await Cli.RunAsync(daemon.Socket, "show", "sessions");
        Assert.True(human.ExitCode == 0, human.Error);
        Assert.Contains(echo.EndPoint.ToString(), human.Output, StringComparison.Ordinal);
        Assert.Matches(@"^ID +INBOUND +CLIENT +DESTINATION +HOST +UPSTREAM ", human.Output);
    }

    [Fact]
    public async Task Cli_DaemonNotRunning_SaysSoWithItsExitCode()
    {
        var result = await Cli.RunAsync("/tmp/tsd-no-such-dir/control.sock", "show");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("not running", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlSocket_UserOutsideTheGroupIsRefused_MemberIsServed()
    {
        // On a fresh machine neither exists yet, and other test processes may hold the account database locks.
        await SystemAccounts.EnsureUserAsync("tsocks-ctl", "transparentsocks");

        await using var daemon = await ControlledDaemon.StartAsync($$"""{ "server": { "enabled": true, "listen": "{{FreeListen()}}" } }""", worldReadableDirectory: true);
        var stat = await ExternalProcess.RunOrThrowAsync("stat", ["-c", "%U:%G %a", daemon.Socket], Timeout);
        Assert.Equal("root:transparentsocks 660", stat.Output.Trim());

        var outsider = await ExternalProcess.RunAsync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "curl", "-sS", "--unix-socket", daemon.Socket, "http://localhost" + ControlApi.Status], Timeout);
        var member = await ExternalProcess.RunAsync("setpriv", ["--reuid=tsocks-ctl", "--regid=tsocks-ctl", "--init-groups", "curl", "-sS", "--unix-socket", daemon.Socket, "http://localhost" + ControlApi.Status], Timeout);

        // curl's "couldn't connect": the kernel refused the connect (EACCES) before the daemon saw anything.
        Assert.Equal(7, outsider.ExitCode);
        Assert.True(member.ExitCode == 0, member.Error);
        Assert.Equal("127.0.0.1", JsonSerializer.Deserialize(member.Output, J.StatusResponse)!.Server.Listen!.Split(':')[0]);
    }

    /// <summary>Uptime and the config path's counters move between two reads; the settings must not.</summary>
    private static string Normalize(string statusJson)
    {
        var status = JsonSerializer.Deserialize(statusJson, J.StatusResponse)!;
        return JsonSerializer.Serialize(status with { UptimeSeconds = 0 }, J.StatusResponse);
    }

    private static string FreeListen() => $"127.0.0.1:{PortAllocator.GetFreeTcpPort(IPAddress.Loopback)}";

    private static Task<ProcessResult> CurlAsync(string proxy, string url)
        => ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "10", "-x", proxy, url], Timeout);
}

/// <summary>A daemon started with a config and a control socket of the test's own; restartable on the same files.</summary>
internal sealed class ControlledDaemon : IAsyncDisposable
{
    private ExternalProcess _process;

    private ControlledDaemon(string configPath, ExternalProcess process)
    {
        ConfigPath = configPath;
        _process = process;
    }

    public string ConfigPath { get; }

    public string Socket => DaemonProcess.ControlSocketOf(ConfigPath);

    public string Log => _process.Output + _process.Error;

    public static async Task<ControlledDaemon> StartAsync(string configJson, bool worldReadableDirectory = false)
    {
        var path = DaemonProcess.WriteConfig(configJson);
        if (worldReadableDirectory)
        {
            // Other users must be able to reach the socket's directory; the socket's own mode is what is tested.
            await ExternalProcess.RunOrThrowAsync("chmod", ["0755", Path.GetDirectoryName(path)!], TimeSpan.FromSeconds(5));
        }

        var daemon = new ControlledDaemon(path, Launch(path));
        await daemon.WaitReadyAsync();
        return daemon;
    }

    private static ExternalProcess Launch(string path) => ExternalProcess.Start("dotnet", [DaemonProcess.DaemonDll, "--config", path]);

    public string WriteFile(string name, string content)
    {
        var path = Path.Combine(Path.GetDirectoryName(ConfigPath)!, name);
        File.WriteAllText(path, content);
        return path;
    }

    public async Task<string> WaitForLogAsync(string text)
    {
        Assert.True(await _process.WaitForTextAsync(text, TimeSpan.FromSeconds(10)), Log);
        return Log;
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            if (Log.Contains("control socket", StringComparison.Ordinal) && File.Exists(Socket))
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"daemon not ready:\n{Log}");
    }

    public async Task RestartAsync()
    {
        await ExternalProcess.RunOrThrowAsync("kill", ["-TERM", _process.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
        Assert.True(await _process.WaitForExitAsync(TimeSpan.FromSeconds(30)), Log);
        await _process.DisposeAsync();
        _process = Launch(ConfigPath);
        await WaitReadyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(ConfigPath)!, recursive: true);
    }
}

/// <summary>The numbers a dashboard scrapes are the numbers an operator reads in `show`.</summary>
[Trait("Category", "Integration")]
public sealed class MetricsMatchShowTests
{
    [Fact]
    public async Task MetricsAfterAKnownTransfer_MatchShowServer_AndCarryNoSecrets()
    {
        var body = new string('m', 100_000) + "\n";
        await using var target = new HttpTarget(IPAddress.Loopback, body);
        var socksPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var metricsPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = await ControlledDaemon.StartAsync($$"""
            { "server": { "enabled": true, "listen": "127.0.0.1:{{socksPort}}", "allowPrivateDestinations": true,
                          "users": [ { "username": "metrics-user", "password": "metrics-secret" } ] },
              "metrics": { "enabled": true, "listen": "127.0.0.1:{{metricsPort}}" } }
            """);

        for (var i = 0; i < 3; i++)
        {
            var curl = await ExternalProcess.RunAsync("curl", ["-sS", "-o", "/dev/null", "--max-time", "10", "-x", $"socks5h://metrics-user:metrics-secret@127.0.0.1:{socksPort}", target.Url.ToString()], TimeSpan.FromSeconds(30));
            Assert.True(curl.ExitCode == 0, curl.Error);
        }

        var server = await Cli.JsonAsync(daemon.Socket, ControlJsonContext.Default.ServerInfo, "show", "server");
        var scrape = await ExternalProcess.RunAsync("curl", ["-sS", $"http://127.0.0.1:{metricsPort}/metrics"], TimeSpan.FromSeconds(30));
        Assert.True(scrape.ExitCode == 0, scrape.Error + daemon.Log);
        var metrics = PrometheusText.Parse(scrape.Output);

        Assert.Equal(3, server.TotalSessions);
        Assert.Equal(server.TotalSessions, metrics.Value("transparentsocks_connections_total", ("path", "server")));
        Assert.Equal(server.BytesDown, metrics.Value("transparentsocks_bytes_total", ("direction", "down"), ("path", "server")));
        Assert.Equal(server.BytesUp, metrics.Value("transparentsocks_bytes_total", ("direction", "up"), ("path", "server")));
        Assert.True(server.BytesDown >= 3 * body.Length);
        Assert.DoesNotContain("metrics-secret", scrape.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("metrics-user", scrape.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("metrics-secret", daemon.Log, StringComparison.Ordinal);
    }
}

/// <summary>`set pooling on` really pre-authenticates connections to the upstream, and `show upstreams` counts them.</summary>
[Trait("Category", "Integration")]
public sealed class PoolingCliTests
{
    [Fact]
    public async Task SetPoolingOn_FillsThePool_AndSessionsStillWork()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "pooled\n");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, "pool-user", "pool-pass");
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = await ControlledDaemon.StartAsync($$"""
            { "server": { "enabled": true, "listen": "127.0.0.1:{{port}}", "allowPrivateDestinations": true, "outbound": "upstream" },
              "upstream": { "address": "{{upstream.EndPoint}}", "username": "pool-user", "password": "pool-pass", "maxPoolSize": 3 } }
            """);

        Assert.Equal(0, (await Cli.RunAsync(daemon.Socket, "set", "pooling", "on")).ExitCode);
        UpstreamInfo info;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            await Task.Delay(100);
            info = (await Cli.JsonAsync(daemon.Socket, ControlJsonContext.Default.UpstreamsResponse, "show", "upstreams")).Upstreams.Single(u => u.Name == "default");
        }
        while (info.PooledIdle < 3 && DateTime.UtcNow < deadline);
        Assert.Equal(3, info.PooledIdle);
        Assert.Contains("server", info.UsedBy);

        var curl = await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "10", "--socks5-hostname", $"127.0.0.1:{port}", target.Url.ToString()], TimeSpan.FromSeconds(30));
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("pooled\n", curl.Output);
        var after = (await Cli.JsonAsync(daemon.Socket, ControlJsonContext.Default.UpstreamsResponse, "show", "upstreams")).Upstreams.Single(u => u.Name == "default");
        Assert.True(after.Connections >= 1, $"connections {after.Connections}");
        Assert.True(after.HasPassword);
        Assert.DoesNotContain("pool-pass", daemon.Log, StringComparison.Ordinal);
    }
}
