using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests;

/// <summary>
/// <c>upstream add/remove</c>, <c>group set/remove</c>, <c>enable --upstream</c> and <c>server start --outbound</c>:
/// the one request each sends, and the values refused here with exit code 2 before any call.
/// </summary>
[Trait("Category", "Unit")]
public sealed class UpstreamCommandTests : StubbedCliTest
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    private static readonly UpstreamInfo Pool = new()
    {
        Name = "pool",
        Kind = "group",
        Policy = "round-robin",
        HasPassword = false,
        UsedBy = ["server"],
        Connections = 7,
        Failures = 1,
        PooledIdle = 0,
        Members =
        [
            new GroupMemberInfo { Name = "vpn", State = "up", Checks = 3, CheckFailures = 0, InFlight = 1, Failures = new Dictionary<string, long>() },
            new GroupMemberInfo { Name = "office", State = "down", Reason = "timeout", Checks = 3, CheckFailures = 3, InFlight = 0, Failures = new Dictionary<string, long> { ["timeout"] = 3 } },
        ],
    };

    [Fact]
    public async Task UpstreamAdd_NameAndAddress_PostsSocks5DefaultWithoutCredentials()
    {
        Stub.On(HttpMethod.Post, ControlApi.UpstreamSet("vpn"), StubReply.Ok(Canned.DefaultUpstream with { Name = "vpn" }, J.UpstreamInfo));

        var result = await RunAsync("upstream", "add", "vpn", "10.8.0.1:1080");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/upstreams/vpn/set"), (request.Method, request.Target));
        Assert.Equal(new SetUpstreamRequest { Address = "10.8.0.1:1080" }, request.BodyAs(J.SetUpstreamRequest));
        Assert.StartsWith("Upstream vpn\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpstreamAdd_HttpWithPasswordFile_PostsProtocolAndThePasswordFromTheFile()
    {
        Stub.On(HttpMethod.Post, ControlApi.UpstreamSet("office.1"), StubReply.Ok(Canned.DefaultUpstream with { Name = "office.1", Kind = "http" }, J.UpstreamInfo));
        var file = WriteFile("office.pass", "office-secret\n");

        var result = await RunAsync("upstream", "add", "office.1", "[2001:db8::7]:3128", "--protocol", "HTTP", "--username", "gw", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            new SetUpstreamRequest { Address = "[2001:db8::7]:3128", Protocol = "http", Username = "gw", Password = "office-secret" },
            Stub.SingleRequest().BodyAs(J.SetUpstreamRequest));
        Assert.Contains("  kind:         http", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("office-secret", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpstreamRemove_Name_PostsWithoutBody()
    {
        Stub.On(HttpMethod.Post, ControlApi.UpstreamRemove("vpn"), StubReply.Ok(Canned.Message("upstream vpn removed"), J.MessageResponse));

        var result = await RunAsync("upstream", "remove", "vpn");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/upstreams/vpn/remove", string.Empty), (request.Method, request.Target, request.Body));
        Assert.Equal("upstream vpn removed\n", result.Output);
    }

    [Fact]
    public async Task UpstreamRemove_DaemonNamesTheUsers_ExitsOneWithItsMessage()
    {
        Stub.On(HttpMethod.Post, ControlApi.UpstreamRemove("vpn"), StubReply.Error(409, ErrorCodes.FailedPrecondition, "upstream 'vpn' is in use by groups[0] (pool), server.outbound; point them elsewhere first", "groups[0]"));

        var result = await RunAsync("upstream", "remove", "vpn");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("in use by groups[0] (pool), server.outbound", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroupSet_EveryOption_PostsPolicyMembersInOrderAndHealthCheck()
    {
        Stub.On(HttpMethod.Post, ControlApi.GroupSet("pool"), StubReply.Ok(Pool, J.UpstreamInfo));

        var result = await RunAsync(
            "group", "set", "pool", "--policy", "round-robin", "vpn", "office", "default",
            "--interval", "0.5", "--timeout", "2", "--failures", "3", "--successes", "1", "--target", "198.51.100.7:443");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/groups/pool/set"), (request.Method, request.Target));
        var body = request.BodyAs(J.SetGroupRequest);
        Assert.Equal(["vpn", "office", "default"], body.Members);
        Assert.Equal(
            new SetGroupRequest { Members = body.Members, Policy = "round-robin", Interval = 0.5, Timeout = 2, Failures = 3, Successes = 1, Target = "198.51.100.7:443" },
            body);
        Assert.Contains("  policy:       round-robin", result.Output, StringComparison.Ordinal);
        Assert.Contains("  members:      vpn up, office down (timeout)", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroupSet_MembersOnly_LeavesPolicyAndChecksToTheDaemonsDefaults()
    {
        Stub.On(HttpMethod.Post, ControlApi.GroupSet("out"), StubReply.Ok(Pool with { Name = "out" }, J.UpstreamInfo));

        var result = await RunAsync("group", "set", "out", "vpn");

        Assert.True(result.ExitCode == 0, result.ToString());
        var body = Stub.SingleRequest().BodyAs(J.SetGroupRequest);
        Assert.Equal(new SetGroupRequest { Members = body.Members }, body);
        Assert.Equal(["vpn"], body.Members);
    }

    [Fact]
    public async Task GroupRemove_Name_PostsWithoutBody()
    {
        Stub.On(HttpMethod.Post, ControlApi.GroupRemove("pool"), StubReply.Ok(Canned.Message("group pool removed"), J.MessageResponse));

        var result = await RunAsync("group", "remove", "pool");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/groups/pool/remove", string.Empty), (request.Method, request.Target, request.Body));
    }

    [Fact]
    public async Task Enable_Upstream_PostsTheNameAndNoProxy()
    {
        var result = await RunAsync("enable", "eth1", "--upstream", "pool");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(new EnableInterfaceRequest { Upstream = "pool" }, Stub.SingleRequest().BodyAs(J.EnableInterfaceRequest));
    }

    [Fact]
    public async Task ServerStart_Outbound_PostsIt()
    {
        var result = await RunAsync("server", "start", "127.0.0.1:1080", "--outbound", "pool");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(new ServerStartRequest { Listen = "127.0.0.1:1080", Outbound = "pool" }, Stub.SingleRequest().BodyAs(J.ServerStartRequest));
    }

    [Theory]
    [InlineData("direct")]
    [InlineData("upstream")]
    public async Task ServerStart_OutboundDirectOrUpstream_PostsTheWord(string outbound)
    {
        var result = await RunAsync("server", "start", "127.0.0.1:1080", "--outbound", outbound);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(outbound, Stub.SingleRequest().BodyAs(J.ServerStartRequest).Outbound);
    }

    [Fact]
    public async Task ShowUpstreams_WithAGroup_PrintsItsKindPolicyAndMembersHealth()
    {
        Stub.On(HttpMethod.Get, ControlApi.Upstreams, StubReply.Ok(new UpstreamsResponse([Canned.DefaultUpstream, Pool]), J.UpstreamsResponse));

        var result = await RunAsync("show", "upstreams");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^NAME +KIND +ADDRESS +USERNAME", lines[0]);
        Assert.Matches(@"^default +socks5 +127\.0\.0\.1:1081 +gw +set +eth1,server +12 +1 +2 +5$", lines[1]);
        Assert.Matches(@"^pool +group +round-robin +- +- +server +7 +1 +0 +0$", lines[2]);
        Assert.Equal("pool: vpn up, office down (timeout)", lines[3]);
    }

    [Theory]
    [InlineData("'-vpn' is not a valid upstream name (1-64 letters, digits, '.', '_' or '-', starting with a letter or digit)", "upstream", "add", "-vpn", "10.8.0.1:1080")]
    [InlineData("'a/b' is not a valid upstream name", "upstream", "add", "a/b", "10.8.0.1:1080")]
    [InlineData("is not a valid group name", "group", "set", "x12345678901234567890123456789012345678901234567890123456789012345", "vpn")]
    [InlineData("'default' is reserved: no upstream may be called direct, default or upstream", "upstream", "add", "default", "10.8.0.1:1080")]
    [InlineData("'direct' is reserved: no group may be called", "group", "set", "direct", "vpn")]
    [InlineData("'upstream' is reserved: no upstream may be called", "upstream", "remove", "upstream")]
    [InlineData("upstream address: 'vpn.lan' is not HOST:PORT", "upstream", "add", "vpn", "vpn.lan")]
    [InlineData("upstream address: port 0 cannot be dialled", "upstream", "add", "vpn", "192.0.2.1:0")]
    [InlineData("'99999' is not a port number", "upstream", "add", "vpn", "192.0.2.1:99999")]
    [InlineData("--protocol must be one of socks5, http, not 'socks4'", "upstream", "add", "vpn", "192.0.2.1:1080", "--protocol", "socks4")]
    [InlineData("--policy must be one of failover, round-robin, least-connections, hash, not 'random'", "group", "set", "pool", "vpn", "--policy", "random")]
    [InlineData("member: 'b c' is not a valid upstream or group name", "group", "set", "pool", "a", "b c")]
    [InlineData("member: 'direct' is the server's outbound without a proxy", "group", "set", "pool", "a", "direct")]
    [InlineData("--interval: 0.05 is out of range; must be between 0.1 and 86400 seconds", "group", "set", "pool", "a", "--interval", "0.05")]
    [InlineData("--timeout: 90000 is out of range; must be between 0.001 and 86400 seconds", "group", "set", "pool", "a", "--timeout", "90000")]
    [InlineData("--failures must be a whole number from 1 to 100, not '0'", "group", "set", "pool", "a", "--failures", "0")]
    [InlineData("--successes must be a whole number from 1 to 100, not '101'", "group", "set", "pool", "a", "--successes", "101")]
    [InlineData("--target: '198.51.100.7' is not HOST:PORT", "group", "set", "pool", "a", "--target", "198.51.100.7")]
    [InlineData("--upstream: 'direct' is the server's outbound without a proxy", "enable", "eth1", "--upstream", "direct")]
    [InlineData("--upstream and --proxy are mutually exclusive", "enable", "eth1", "--upstream", "pool", "--proxy", "192.0.2.1:1080")]
    [InlineData("--username and the password belong to the named upstream", "enable", "eth1", "--upstream", "pool", "--username", "gw", "--password", "pw")]
    [InlineData("--outbound: 'no such' is not a valid upstream or group name", "server", "start", "127.0.0.1:1080", "--outbound", "no such")]
    public Task Command_BadValue_ExitsTwoBeforeAnyCall(string message, params string[] args) => AssertRefusedBeforeAnyCallAsync(message, args);

    [Theory]
    [InlineData("upstream")]
    [InlineData("upstream", "add")]
    [InlineData("upstream", "add", "vpn")]
    [InlineData("upstream", "remove")]
    [InlineData("upstream", "remove", "a", "b")]
    [InlineData("group")]
    [InlineData("group", "set")]
    [InlineData("group", "set", "pool")]
    [InlineData("group", "set", "pool", "--policy", "hash")]
    [InlineData("group", "remove")]
    [InlineData("enable", "eth1", "--upstream")]
    [InlineData("server", "start", "127.0.0.1:1080", "--outbound")]
    public async Task Command_MissingWords_ExitsTwo(params string[] args)
    {
        var result = await RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task UpstreamAdd_UsernameWithoutPassword_ExitsTwo()
    {
        var result = await RunAsync("upstream", "add", "vpn", "10.8.0.1:1080", "--username", "gw");

        Assert.Equal((2, "error: --username needs --password-file (or --password)\n"), (result.ExitCode, result.Error));
        Assert.Empty(Stub.Requests);
    }
}
