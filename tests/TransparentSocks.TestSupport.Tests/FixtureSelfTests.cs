using System.Net;

namespace TransparentSocks.TestSupport.Tests;

/// <summary>
/// Proves the lab fixtures against the real programs before any proxy test depends on them: if one
/// of these fails, the fixture (or the machine) is broken, not TransparentSocks.
/// </summary>
[Trait("Category", "Integration")]
public sealed class FixtureSelfTests
{
    private static readonly TimeSpan CurlTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    // curl 7.88 exits with 97 for every SOCKS failure (rejected auth, refused CONNECT, ...), so the
    // tests also check its message.
    private const int CurlSocksRejected = 97;

    [Fact]
    public async Task Microsocks_WithoutAuth_CurlReachesHttpTarget()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var socks = await Microsocks.StartAsync(IPAddress.Loopback);

        var result = await CurlAsync($"socks5://{socks.EndPoint}", new Uri(target.Url, "/plain"));

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(HttpTarget.DefaultBody, result.Output);
        Assert.Equal(["/plain"], target.Paths);
        Assert.Equal(IPAddress.Loopback, Assert.Single(target.Clients).Address);
        Assert.True(
            await socks.WaitForLogAsync($"connected to {target.EndPoint}", Wait),
            socks.Log);
    }

    [Fact]
    public async Task Microsocks_WithAuthOnIpv6_AcceptsRightPasswordOnly()
    {
        await using var target = new HttpTarget(IPAddress.IPv6Loopback, body: "v6 body\n");
        await using var socks = await Microsocks.StartAsync(IPAddress.IPv6Loopback, "alice", "s3cret");

        var good = await CurlAsync($"socks5://alice:s3cret@{socks.EndPoint}", target.Url);
        var wrong = await CurlAsync($"socks5://alice:nope@{socks.EndPoint}", target.Url);
        var none = await CurlAsync($"socks5://{socks.EndPoint}", target.Url);

        Assert.True(good.ExitCode == 0, good.Error);
        Assert.Equal("v6 body\n", good.Output);
        Assert.Equal(CurlSocksRejected, wrong.ExitCode);
        Assert.Contains("User was rejected", wrong.Error, StringComparison.Ordinal);
        Assert.Equal(CurlSocksRejected, none.ExitCode);
        Assert.Contains("No authentication method was acceptable", none.Error, StringComparison.Ordinal);
        Assert.Single(target.Clients);
    }

    [Fact]
    public async Task Dante_WithAuth_AcceptsSystemUserAndRejectsWrongPassword()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true);

        var good = await CurlAsync($"socks5://{Dante.Username}:{Dante.Password}@{dante.EndPoint}", target.Url);
        var wrong = await CurlAsync($"socks5://{Dante.Username}:wrong-pass@{dante.EndPoint}", target.Url);

        Assert.True(good.ExitCode == 0, $"{good.Error}\n{dante.ReadLog()}");
        Assert.Equal(HttpTarget.DefaultBody, good.Output);
        Assert.Equal(CurlSocksRejected, wrong.ExitCode);
        Assert.Contains("User was rejected", wrong.Error, StringComparison.Ordinal);
        Assert.Single(target.Clients);
        Assert.True(
            await dante.WaitForLogAsync($"-> {Dante.FormatLogEndPoint(target.Clients[0])} {Dante.FormatLogEndPoint(target.EndPoint)}", Wait),
            dante.ReadLog());
        Assert.True(await dante.WaitForLogAsync("system password authentication failed", Wait), dante.ReadLog());
    }

    [Fact]
    public async Task Dante_WithoutAuthOnIpv6_ReachesIpv4Target()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var dante = await Dante.StartAsync(IPAddress.IPv6Loopback, requireAuth: false);

        var result = await CurlAsync($"socks5://{dante.EndPoint}", target.Url);

        Assert.True(result.ExitCode == 0, $"{result.Error}\n{dante.ReadLog()}");
        Assert.Equal(HttpTarget.DefaultBody, result.Output);
    }

    [Fact]
    public async Task ResponseAfterEofTarget_NcatHalfClosesOnStdinEof_GetsWholeResponse()
    {
        await using var target = new ResponseAfterEofTarget(IPAddress.Loopback);

        var result = await ExternalProcess.RunOrThrowAsync(
            "ncat",
            [target.EndPoint.Address.ToString(), target.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            CurlTimeout,
            stdin: "hello\n");

        Assert.Equal(target.ExpectedResponse(6), result.Output);
        Assert.Equal([6L], target.ReceivedCounts);
        Assert.StartsWith("got 6 bytes\n", result.Output, StringComparison.Ordinal);
        Assert.Equal("got 6 bytes\n".Length + ResponseAfterEofTarget.DefaultTrailerBytes, result.Output.Length);
    }

    [Fact]
    public async Task ExternalProcess_RunAsyncPastTimeout_KillsAndThrows()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();

        await Assert.ThrowsAsync<TimeoutException>(
            () => ExternalProcess.RunAsync("sleep", ["30"], TimeSpan.FromMilliseconds(300)));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ExternalProcess_RunAsync_PassesStdinAndCapturesBothStreams()
    {
        var echo = await ExternalProcess.RunAsync("cat", [], CurlTimeout, stdin: "line one\nline two");
        var failing = await ExternalProcess.RunAsync("ls", ["/nonexistent-tsocks-path"], CurlTimeout);

        Assert.Equal(new ProcessResult(0, "line one\nline two", string.Empty), echo);
        Assert.NotEqual(0, failing.ExitCode);
        Assert.Contains("nonexistent-tsocks-path", failing.Error, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(
            () => ExternalProcess.RunOrThrowAsync("false", [], CurlTimeout));
    }

    [Fact]
    public async Task ExternalProcess_Dispose_TerminatesLongRunningProgram()
    {
        var process = ExternalProcess.Start("sleep", ["30"]);
        var pid = process.Pid;

        await process.DisposeAsync();

        Assert.True(process.HasExited);
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tinyproxy_WithBasicAuth_TunnelsRightPasswordAnswers401ToWrongAnd407ToNone()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var proxy = await Tinyproxy.StartAsync(IPAddress.Loopback, "alice", "s3cret");

        // --proxytunnel makes curl send CONNECT, the only method the daemon's HTTP upstream uses.
        var good = await CurlAsync($"http://alice:s3cret@{proxy.EndPoint}", target.Url, "--proxytunnel");
        var wrong = await CurlAsync($"http://alice:nope@{proxy.EndPoint}", target.Url, "--proxytunnel");
        var none = await CurlAsync($"http://{proxy.EndPoint}", target.Url, "--proxytunnel");

        Assert.True(good.ExitCode == 0, $"{good.Error}\n{proxy.Log}");
        Assert.Equal(HttpTarget.DefaultBody, good.Output);
        // tinyproxy 1.11.1 asks for credentials with 407 but refuses wrong ones with 401.
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("response 401", wrong.Error, StringComparison.Ordinal);
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("response 407", none.Error, StringComparison.Ordinal);
        Assert.Single(target.Clients);
        Assert.True(await proxy.WaitForLogAsync($"CONNECT {target.EndPoint} HTTP/1.1", Wait), proxy.Log);
        Assert.Equal(1, proxy.EstablishedConnections);
    }

    [Fact]
    public async Task Tinyproxy_ConnectPortOutsideList_Gets403AndNeverReachesTarget()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        var other = target.EndPoint.Port == 65000 ? 65001 : 65000;
        await using var proxy = await Tinyproxy.StartAsync(IPAddress.Loopback, connectPorts: [other]);

        var refused = await CurlAsync($"http://{proxy.EndPoint}", target.Url, "--proxytunnel");

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("403", refused.Error, StringComparison.Ordinal);
        Assert.Empty(target.Clients);
        Assert.Equal(0, proxy.EstablishedConnections);
    }

    private static Task<ProcessResult> CurlAsync(string proxy, Uri url, params string[] extra) =>
        ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "10", .. extra, "--proxy", proxy, url.ToString()], CurlTimeout);
}
