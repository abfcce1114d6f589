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
              sniffed:           tls 7, http 2
              udp flows:         3 active, 14 total, 2 evicted, 1 failed to open
              udp up:            40 datagrams, 3.1 KiB (3200)
              udp down:          38 datagrams, 1.5 MiB (1572864)
              udp dropped:       5 (queue_full 4, malformed 1)

            """,
            result.Output);
    }

    [Fact]
    public async Task ShowInterface_UdpNotDiverted_SaysUdpOff()
    {
        Stub.On(HttpMethod.Get, ControlApi.Interface("eth1"), StubReply.Ok(Canned.Eth1 with { Udp = null }, ControlJsonContext.Default.InterfaceInfo));

        var result = await RunAsync("show", "eth1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.EndsWith("  connect failures:  3 (refused 2, timeout 1)\n  sniffed:           tls 7, http 2\n  udp:               off\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowInterface_SniffingOff_SaysSniffedOff()
    {
        Stub.On(HttpMethod.Get, ControlApi.Interface("eth1"), StubReply.Ok(Canned.Eth1 with { Sniffed = null }, ControlJsonContext.Default.InterfaceInfo));

        var result = await RunAsync("show", "eth1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("  sniffed:           off", result.Output.Split('\n'));
        Assert.DoesNotContain("tls", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_Human_TabulatesEachInterfacesSniffedCountsPerProtocol()
    {
        var result = await RunAsync("show");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.Matches(@" +FAILURES +SNIFFED TLS +SNIFFED HTTP +UDP FLOWS +UDP DROPPED$", lines[header]);
        Assert.Matches(@" +3 +7 +2 +3 +5$", lines[header + 1]);
        Assert.Matches(@" +0 +0 +0 +0 +0$", lines[header + 2]);
        var tls = lines[header].IndexOf("SNIFFED TLS", StringComparison.Ordinal);
        var http = lines[header].IndexOf("SNIFFED HTTP", StringComparison.Ordinal);
        Assert.Equal(('7', '2'), (lines[header + 1][tls], lines[header + 1][http]));
        Assert.Equal(('0', '0'), (lines[header + 2][tls], lines[header + 2][http]));
    }

    [Fact]
    public async Task Show_SniffingOff_SaysOffInTheInterfaceTable()
    {
        var status = Canned.Status with { Interfaces = [Canned.Eth1 with { Sniffed = null }] };
        Stub.On(HttpMethod.Get, ControlApi.Status, StubReply.Ok(status, ControlJsonContext.Default.StatusResponse));

        var result = await RunAsync("show");

        var lines = result.Output.Split('\n');
        var header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.Matches(@" +3 +off +- +3 +5$", lines[header + 1]);
    }

    [Fact]
    public async Task Show_Human_ReportsUdpOfThePathTheServerAndEachInterface()
    {
        var result = await RunAsync("show");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n');
        Assert.Contains("  udp:              3 flows (max 4096), 2 reply sockets (max 1024)", lines);
        Assert.Contains("  udp flows:           1 active, 4 total, 0 evicted, 0 failed to open", lines);
        Assert.Contains("  udp down:            38 datagrams, 1.5 MiB (1572864)", lines);
        Assert.Contains("  udp dropped:         3 (wrong_source 2, fragmented 1)", lines);
        Assert.Contains("  udp:          5 associations", lines);
        var header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.Matches(@" +UDP FLOWS +UDP DROPPED$", lines[header]);
        Assert.Matches(@" +3 +5$", lines[header + 1]);
        Assert.Matches(@" +0 +0$", lines[header + 2]);
    }

    [Fact]
    public async Task Show_UdpNotDiverted_SaysOffForThePathAndInTheInterfaceTable()
    {
        var status = Canned.Status with
        {
            Transparent = Canned.Status.Transparent with { Udp = null },
            Interfaces = [Canned.Eth1 with { Udp = null }],
        };
        Stub.On(HttpMethod.Get, ControlApi.Status, StubReply.Ok(status, ControlJsonContext.Default.StatusResponse));

        var result = await RunAsync("show");

        var lines = result.Output.Split('\n');
        Assert.Contains("  udp:              off", lines);
        var header = Array.FindIndex(lines, l => l.StartsWith("  NAME", StringComparison.Ordinal));
        Assert.Matches(@" +off +-$", lines[header + 1]);
    }

    [Fact]
    public async Task ShowServer_DaemonWithoutUdpFields_ParsesAndSaysUdpOff()
    {
        Stub.On(HttpMethod.Get, ControlApi.Server, new StubReply(200, """
            {"running":true,"listen":"127.0.0.1:1080","authRequired":false,"users":0,"outbound":"direct","accepted":1,"rejected":0,
             "authFailures":0,"handshakeFailures":0,"activeSessions":0,"totalSessions":1,"bytesUp":10,"bytesDown":20,"failures":{}}
            """));

        var result = await RunAsync("show", "server");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.EndsWith("  connect failures:    none\n  udp:                 off\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowSessions_Human_PrintsTableWithAgesAndTotal()
    {
        var result = await RunAsync("show", "sessions");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("ID  INBOUND  CLIENT", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^7 +eth1 +192\.168\.1\.20:51234 +93\.184\.216\.34:443 +example\.com +default +established +1\.5 KiB \(1536\) +1\.5 MiB \(1572864\) +3m12s$", lines[1]);
        Assert.Matches(@"^9 +server +127\.0\.0\.1:40000 +example\.com:80 +- +- +connecting +0 B +0 B +0s$", lines[2]);
        Assert.Equal("2 of 5 sessions shown", lines[3]);
    }

    [Fact]
    public async Task ShowSessions_Human_PutsTheSniffedHostInItsOwnColumnOrADash()
    {
        var result = await RunAsync("show", "sessions");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n');
        Assert.Matches(@"^ID +INBOUND +CLIENT +DESTINATION +HOST +UPSTREAM +STATE +TX +RX +AGE$", lines[0]);
        var host = lines[0].IndexOf("HOST", StringComparison.Ordinal);
        Assert.Equal("example.com ", lines[1].Substring(host, "example.com ".Length));
        Assert.Equal("- ", lines[2].Substring(host, 2));
    }

    [Fact]
    public async Task ShowSessions_WithUdp_PrintsTheFlowsInATableOfTheirOwnAfterTheSessions()
    {
        Stub.On(HttpMethod.Get, ControlApi.Sessions, StubReply.Ok(Canned.SessionsWithUdp, ControlJsonContext.Default.SessionsResponse));

        var result = await RunAsync("show", "sessions");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(10, lines.Length);
        Assert.Equal("2 of 5 sessions shown", lines[3]);
        Assert.Equal(string.Empty, lines[4]);
        Assert.Equal("UDP flows", lines[5]);
        Assert.Matches(@"^  INBOUND +CLIENT +DESTINATION +UPSTREAM +STATE +DGRAMS TX +TX +DGRAMS RX +RX +IDLE +AGE$", lines[6]);
        Assert.Matches(@"^  eth1 +192\.168\.1\.20:53001 +198\.51\.100\.53:53 +default +established +12 +840 B +11 +2\.0 KiB \(2048\) +4s +1m15s$", lines[7]);
        Assert.Matches(@"^  wg0 +\[fd00::20\]:443 +\[2001:db8::1\]:443 +- +connecting +1 +1\.2 KiB \(1200\) +0 +0 B +0s +0s$", lines[8]);
        Assert.Equal("  2 of 3 flows shown", lines[9]);
    }

    [Fact]
    public async Task ShowSessions_OnlyUdp_PrintsOnlyTheFlowTable()
    {
        var udpOnly = Canned.SessionsWithUdp with { Total = 0, Sessions = [], UdpTotal = 1, UdpFlows = [Canned.SessionsWithUdp.UdpFlows![0]] };
        Stub.On(HttpMethod.Get, ControlApi.Sessions, StubReply.Ok(udpOnly, ControlJsonContext.Default.SessionsResponse));

        var result = await RunAsync("show", "sessions");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(["UDP flows", "  1 flows"], [lines[0], lines[^1]]);
        Assert.Equal(4, lines.Length);
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
        Assert.Matches(@"^default +socks5 +127\.0\.0\.1:1081 +gw +set +eth1,server +12 +1 +2 +5$", lines[1]);
        Assert.Matches(@"^interface:wg0 +socks5 +10\.8\.0\.1:1080 +- +- +wg0 +4 +0 +0 +0$", lines[2]);
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
    public async Task ShowSessions_Json_GivesEachSessionsHostOrNull()
    {
        var result = await RunAsync("show", "sessions", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var sessions = json.RootElement.GetProperty("sessions");
        Assert.Equal("example.com", sessions[0].GetProperty("host").GetString());
        Assert.Equal(JsonValueKind.Null, sessions[1].GetProperty("host").ValueKind);
    }

    [Fact]
    public async Task ShowInterface_Json_GivesSniffedCountsPerProtocol()
    {
        var result = await RunAsync("show", "eth1", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var sniffed = json.RootElement.GetProperty("sniffed");
        Assert.Equal(7, sniffed.GetProperty("tls").GetInt64());
        Assert.Equal(2, sniffed.GetProperty("http").GetInt64());
    }

    [Fact]
    public async Task ShowSessions_JsonWithUdp_KeepsTheFlowsStructured()
    {
        Stub.On(HttpMethod.Get, ControlApi.Sessions, StubReply.Ok(Canned.SessionsWithUdp, ControlJsonContext.Default.SessionsResponse));

        var result = await RunAsync("show", "sessions", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        Assert.Equal(3, json.RootElement.GetProperty("udpTotal").GetInt32());
        var flow = json.RootElement.GetProperty("udpFlows")[0];
        Assert.Equal("192.168.1.20:53001", flow.GetProperty("client").GetString());
        Assert.Equal(12, flow.GetProperty("datagramsTx").GetInt64());
        Assert.Equal(2048, flow.GetProperty("bytesRx").GetInt64());
        Assert.Equal(4.2, flow.GetProperty("idleSeconds").GetDouble());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("udpFlows")[1].GetProperty("upstream").ValueKind);
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
