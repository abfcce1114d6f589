using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests;

/// <summary>Each command sends exactly one request: this method, this route, this body.</summary>
[Trait("Category", "Unit")]
public sealed class RequestTests : StubbedCliTest
{
    [Fact]
    public async Task SetEndpoint_Address_PutsEndpointWithoutCredentials()
    {
        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("PUT", ControlApi.Endpoint), (request.Method, request.Target));
        Assert.Equal(
            new SetEndpointRequest { Address = "127.0.0.1:1081" },
            request.BodyAs(ControlJsonContext.Default.SetEndpointRequest));
        Assert.StartsWith("application/json", request.Headers["Content-Type"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetEndpoint_Ipv6WithPasswordFile_SendsBracketedAddressAndFilePassword()
    {
        var file = WriteFile("upstream.pass", "s3cret-from-file\n");

        var result = await RunAsync("set", "endpoint", "[fd00::1]:1080", "--username", "gw", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            new SetEndpointRequest { Address = "[fd00::1]:1080", Username = "gw", Password = "s3cret-from-file" },
            Stub.SingleRequest().BodyAs(ControlJsonContext.Default.SetEndpointRequest));
        Assert.DoesNotContain("s3cret", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetTimeout_Decimal_PutsSeconds()
    {
        var result = await RunAsync("set", "timeout", "2.5");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("PUT", ControlApi.Timeout), (request.Method, request.Target));
        Assert.Equal(new SetTimeoutRequest(2.5), request.BodyAs(ControlJsonContext.Default.SetTimeoutRequest));
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    public async Task SetPooling_Word_PutsEnabled(string word, bool expected)
    {
        var result = await RunAsync("set", "pooling", word);

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("PUT", ControlApi.Pooling), (request.Method, request.Target));
        Assert.Equal(new SetPoolingRequest(expected), request.BodyAs(ControlJsonContext.Default.SetPoolingRequest));
    }

    [Fact]
    public async Task SetMaxPoolSize_Zero_PutsSize()
    {
        var result = await RunAsync("set", "max-pool-size", "0");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("PUT", ControlApi.MaxPoolSize), (request.Method, request.Target));
        Assert.Equal(new SetMaxPoolSizeRequest(0), request.BodyAs(ControlJsonContext.Default.SetMaxPoolSizeRequest));
    }

    [Theory]
    [InlineData("on", true)]
    [InlineData("off", false)]
    public async Task SetVerbose_Word_PutsEnabled(string word, bool expected)
    {
        var result = await RunAsync("set", "verbose", word);

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("PUT", ControlApi.Verbose), (request.Method, request.Target));
        Assert.Equal(new SetVerboseRequest(expected), request.BodyAs(ControlJsonContext.Default.SetVerboseRequest));
    }

    [Fact]
    public async Task Enable_NameOnly_PostsEmptyRequest()
    {
        var result = await RunAsync("enable", "eth1");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/interfaces/eth1/enable"), (request.Method, request.Target));
        Assert.Equal(new EnableInterfaceRequest(), request.BodyAs(ControlJsonContext.Default.EnableInterfaceRequest));
    }

    [Fact]
    public async Task Enable_EveryOption_PostsProxyLimitAndCredentials()
    {
        var file = WriteFile("eth1.pass", "pw-eth1\r\n");

        var result = await RunAsync(
            "enable", "eth1", "--proxy", "10.0.0.2:1080", "--max-connections", "50", "--username", "gw", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            new EnableInterfaceRequest { Proxy = "10.0.0.2:1080", MaxConnections = 50, Username = "gw", Password = "pw-eth1" },
            Stub.SingleRequest().BodyAs(ControlJsonContext.Default.EnableInterfaceRequest));
    }

    [Fact]
    public async Task Disable_Name_PostsWithoutBody()
    {
        var result = await RunAsync("disable", "eth1");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", "/v1/interfaces/eth1/disable", string.Empty), (request.Method, request.Target, request.Body));
        Assert.Equal("eth1 disabled\n", result.Output);
    }

    [Fact]
    public async Task ServerStart_ListenOnly_PostsListen()
    {
        var result = await RunAsync("server", "start", "127.0.0.1:1080");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", ControlApi.ServerStart), (request.Method, request.Target));
        Assert.Equal(
            new ServerStartRequest { Listen = "127.0.0.1:1080" },
            request.BodyAs(ControlJsonContext.Default.ServerStartRequest));
        Assert.Contains("running", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerStart_Ipv6WithCredentials_PostsThem()
    {
        var file = WriteFile("alice.pass", "alice-pw\n");

        var result = await RunAsync("server", "start", "[::1]:1080", "--username", "alice", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(
            new ServerStartRequest { Listen = "[::1]:1080", Username = "alice", Password = "alice-pw" },
            Stub.SingleRequest().BodyAs(ControlJsonContext.Default.ServerStartRequest));
    }

    [Fact]
    public async Task ServerStop_PostsWithoutBody()
    {
        var result = await RunAsync("server", "stop");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", ControlApi.ServerStop, string.Empty), (request.Method, request.Target, request.Body));
        Assert.Contains("stopped", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_PostsWithoutBody()
    {
        var result = await RunAsync("reload");

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("POST", ControlApi.Reload, string.Empty), (request.Method, request.Target, request.Body));
        Assert.Equal("configuration reloaded\n", result.Output);
    }

    [Theory]
    [InlineData(new[] { "show" }, "/v1/status")]
    [InlineData(new[] { "show", "eth1" }, "/v1/interfaces/eth1")]
    [InlineData(new[] { "show", "interface", "eth1" }, "/v1/interfaces/eth1")]
    [InlineData(new[] { "show", "interface", "server" }, "/v1/interfaces/server")]
    [InlineData(new[] { "show", "server" }, "/v1/server")]
    [InlineData(new[] { "show", "sessions" }, "/v1/sessions")]
    [InlineData(new[] { "show", "sessions", "--iface", "eth1" }, "/v1/sessions?iface=eth1")]
    [InlineData(new[] { "show", "sessions", "--limit", "5" }, "/v1/sessions?limit=5")]
    [InlineData(new[] { "show", "sessions", "--limit", "5", "--iface", "eth1" }, "/v1/sessions?iface=eth1&limit=5")]
    [InlineData(new[] { "show", "upstreams" }, "/v1/upstreams")]
    public async Task Show_Variant_GetsRoute(string[] args, string target)
    {
        var result = await RunAsync(args);

        Assert.True(result.ExitCode == 0, result.ToString());
        var request = Stub.SingleRequest();
        Assert.Equal(("GET", target, string.Empty), (request.Method, request.Target, request.Body));
    }

    [Fact]
    public async Task Show_SocketOptionAfterCommand_IsHonoured()
    {
        var result = await CliRun.InProcessAsync("show", "server", "--socket", SocketPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(ControlApi.Server, Stub.SingleRequest().Target);
    }

    [Fact]
    public async Task Request_AnyCommand_IsHttp11ForLocalhost()
    {
        await RunAsync("show");

        var request = Stub.SingleRequest();
        Assert.Equal(("HTTP/1.1", "localhost"), (request.Version, request.Headers["Host"]));
    }
}
