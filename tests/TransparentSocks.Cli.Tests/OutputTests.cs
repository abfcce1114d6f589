using System.Text.Json;
using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests;

/// <summary>Human output by default; with --json, the daemon's answer as received, indented.</summary>
[Trait("Category", "Unit")]
public sealed class OutputTests : StubbedCliTest
{
    [Fact]
    public async Task Show_Human_PrintsEverySection()
    {
        var result = await RunAsync("show");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n');
        Assert.Equal("transparentsocksd 0.4.0, up 3h12m, config /etc/transparentsocks/config.json", lines[0]);
        Assert.Contains("  idle timeout:   300 s", lines);
        Assert.Contains("  pooling:        on", lines);
        Assert.Contains("  verbose:        off (log level information)", lines);
        Assert.Contains("Upstream default", lines);
        Assert.Contains("  username:     gw (password set)", lines);
        Assert.Contains("  used by:      eth1, server", lines);
        Assert.Contains("  status:              running", lines);
        Assert.Contains("  auth:                required (2 users)", lines);
        Assert.Contains("  bytes up:            1.5 MiB (1572864)", lines);
        Assert.Contains("  connect failures:    timeout 2, refused 1", lines);
        Assert.Contains("  mode:             tproxy", lines);
        Assert.Contains("  fwmark:           0x5453", lines);
    }

    [Fact]
    public async Task Show_Human_TabulatesInterfacesInAlignedColumns()
    {
        var result = await RunAsync("show");

        var lines = result.Output.Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.True(header > 0, result.Output);
        var eth1 = lines[header + 1];
        var wg0 = lines[header + 2];
        Assert.StartsWith("  eth1", eth1, StringComparison.Ordinal);
        Assert.StartsWith("  wg0", wg0, StringComparison.Ordinal);
        foreach (var column in new[] { "PROXY", "MAX CONN", "UP", "DOWN" })
        {
            var at = lines[header].IndexOf(column, StringComparison.Ordinal);
            Assert.NotEqual(' ', eth1[at]);
            Assert.NotEqual(' ', wg0[at]);
        }

        Assert.Contains("unlimited", eth1, StringComparison.Ordinal);
        Assert.Contains("1.5 KiB (1536)", eth1, StringComparison.Ordinal);
        Assert.Contains("200", wg0, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowInterface_Human_PrintsBlockWithFailureReasons()
    {
        var result = await RunAsync("show", "eth1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            """
            Interface eth1
              status:            enabled
              proxy:             127.0.0.1:1081
              max connections:   unlimited
              sessions:          2 active, 10 total
              rejected:          0
              diverted:          1234 packets, 1.2 MiB (1258291)
              bytes up:          1.5 KiB (1536)
              bytes down:        1.5 MiB (1572864)
              connect failures:  3 (refused 2, timeout 1)

            """,
            result.Output);
    }

    [Fact]
    public async Task ShowSessions_Human_PrintsTableWithAgesAndTotal()
    {
        var result = await RunAsync("show", "sessions");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("ID  INBOUND  CLIENT", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^7 +eth1 +192\.168\.1\.20:51234 +93\.184\.216\.34:443 +default +established +1\.5 KiB \(1536\) +1\.5 MiB \(1572864\) +3m12s$", lines[1]);
        Assert.Matches(@"^9 +server +127\.0\.0\.1:40000 +example\.com:80 +- +connecting +0 B +0 B +0s$", lines[2]);
        Assert.Equal("2 of 5 sessions shown", lines[3]);
    }

    [Fact]
    public async Task ShowSessions_None_SaysSo()
    {
        Stub.On(HttpMethod.Get, ControlApi.Sessions, StubReply.Ok(new SessionsResponse(0, []), ControlJsonContext.Default.SessionsResponse));

        var result = await RunAsync("show", "sessions");

        Assert.Equal((0, "no sessions\n"), (result.ExitCode, result.Output));
    }

    [Fact]
    public async Task ShowUpstreams_Human_PrintsOneRowEach()
    {
        var result = await RunAsync("show", "upstreams");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^default +127\.0\.0\.1:1081 +gw +set +eth1,server +12 +1 +2$", lines[1]);
        Assert.Matches(@"^interface:wg0 +10\.8\.0\.1:1080 +- +- +wg0 +4 +0 +0$", lines[2]);
    }

    [Fact]
    public async Task ShowServer_Human_PrintsBlock()
    {
        var result = await RunAsync("show", "server");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("Server\n  status:              running\n  listen:              127.0.0.1:1080\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("  bytes down:          20.0 MiB (20971520)\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetCommands_Human_PrintTheNewSettings()
    {
        var result = await RunAsync("set", "verbose", "on");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("  verbose:        on (log level information)", result.Output.Split('\n'));
    }

    [Fact]
    public async Task Show_Json_ParsesAsStatusResponse()
    {
        var result = await RunAsync("show", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var status = JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.StatusResponse)!;
        Assert.Equal(Canned.Status.Version, status.Version);
        Assert.Equal(["eth1", "wg0"], status.Interfaces.Select(i => i.Name));
        Assert.Contains("\n  \"settings\": {\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowInterface_Json_ParsesAsInterfaceInfo()
    {
        var result = await RunAsync("show", "eth1", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Canned.Eth1.DivertedBytes, JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.InterfaceInfo)!.DivertedBytes);
    }

    [Fact]
    public async Task ShowInterfaceSubcommand_Json_ParsesAsInterfaceInfo()
    {
        var result = await RunAsync("show", "--json", "interface", "server");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("server", JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.InterfaceInfo)!.Name);
    }

    [Fact]
    public async Task ShowServer_Json_ParsesAsServerInfo()
    {
        var result = await RunAsync("show", "server", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(Canned.Server.Failures, JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.ServerInfo)!.Failures);
    }

    [Fact]
    public async Task ShowSessions_Json_ParsesAsSessionsResponse()
    {
        var result = await RunAsync("show", "sessions", "--limit", "2", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var sessions = JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.SessionsResponse)!;
        Assert.Equal((5, 2), (sessions.Total, sessions.Sessions.Count));
    }

    [Fact]
    public async Task ShowUpstreams_Json_ParsesAsUpstreamsResponse()
    {
        var result = await RunAsync("show", "upstreams", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            ["default", "interface:wg0"],
            JsonSerializer.Deserialize(result.Output, ControlJsonContext.Default.UpstreamsResponse)!.Upstreams.Select(u => u.Name));
    }

    [Fact]
    public async Task Show_JsonWithFieldsUnknownToThisCli_PrintsThemAsReceived()
    {
        Stub.On(HttpMethod.Get, ControlApi.Server, new StubReply(200, """{"running":false,"futureField":{"a":[1,2]},"name":"ü+<"}"""));

        var result = await RunAsync("show", "server", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var printed = JsonDocument.Parse(result.Output);
        Assert.Equal(2, printed.RootElement.GetProperty("futureField").GetProperty("a").GetArrayLength());
        Assert.Contains("\"name\": \"ü+<\"", result.Output, StringComparison.Ordinal);
    }
}
