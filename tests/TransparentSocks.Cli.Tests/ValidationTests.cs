using TransparentSocks.Cli.Tests.Support;

namespace TransparentSocks.Cli.Tests;

/// <summary>Bad values are refused here with a clear message and exit code 2; nothing reaches the daemon.</summary>
[Trait("Category", "Unit")]
public sealed class ValidationTests : StubbedCliTest
{
    [Theory]
    [InlineData("endpoint: 'localhost' is not HOST:PORT", "set", "endpoint", "localhost")]
    [InlineData("is not HOST:PORT (write IPv6 addresses as [addr]:port)", "set", "endpoint", "fd00::1:1080")]
    [InlineData("'70000' is not a port number", "set", "endpoint", "10.0.0.1:70000")]
    [InlineData("port 0 cannot be dialled", "set", "endpoint", "10.0.0.1:0")]
    [InlineData("--proxy: '[fd00::1]1080' is not [IPv6]:PORT", "enable", "eth1", "--proxy", "[fd00::1]1080")]
    [InlineData("'proxy.lan' is not an IP address", "server", "start", "proxy.lan:1080")]
    [InlineData("the idle timeout: 0 is out of range; must be between 0.001 and 2147483 seconds, in whole milliseconds", "set", "timeout", "0")]
    [InlineData("the idle timeout: 0.0001 is out of range; must be between 0.001 and 2147483 seconds, in whole milliseconds", "set", "timeout", "0.0001")]
    [InlineData("the idle timeout: 1E-09 is out of range; must be between 0.001 and 2147483 seconds, in whole milliseconds", "set", "timeout", "1e-9")]
    [InlineData("the idle timeout: 0.0015 is not a whole number of milliseconds; must be between 0.001 and 2147483", "set", "timeout", "0.0015")]
    [InlineData("the idle timeout: is too large to be a number of seconds; must be between 0.001 and 2147483", "set", "timeout", "1e400")]
    [InlineData("the idle timeout: 3000000 is out of range; must be between 0.001 and 2147483", "set", "timeout", "3e6")]
    [InlineData("the idle timeout must be a number of seconds, not 'soon'", "set", "timeout", "soon")]
    [InlineData("pooling must be 'on' or 'off', not 'yes'", "set", "pooling", "yes")]
    [InlineData("verbose must be 'on' or 'off', not 'ON!'", "set", "verbose", "ON!")]
    [InlineData("the pool size must be a whole number from 0 to 2147483647, not 'x'", "set", "max-pool-size", "x")]
    [InlineData("--max-connections must be a whole number from 0", "enable", "eth1", "--max-connections", "1.5")]
    [InlineData("--limit must be a whole number from 1", "show", "sessions", "--limit", "0")]
    [InlineData("'eth0/1' is not an interface name", "enable", "eth0/1")]
    [InlineData("'averyveryverylongname' is not an interface name", "disable", "averyveryverylongname")]
    [InlineData("'..' is not an interface name", "show", "..")]
    [InlineData("'a b' is not an interface name", "show", "sessions", "--iface", "a b")]
    public Task Command_BadValue_ExitsTwoBeforeAnyCall(string message, params string[] args) => AssertRefusedBeforeAnyCallAsync(message, args);

    [Theory]
    [InlineData("set", "max-pool-size", "-1")]
    [InlineData("enable", "eth1", "--max-connections", "-5")]
    [InlineData("set", "timeout", "-5")]
    public async Task Command_NegativeNumber_ExitsTwoBeforeAnyCall(params string[] args)
    {
        var result = await RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Empty(Stub.Requests);
    }

    [Theory]
    [InlineData("set")]
    [InlineData("server")]
    [InlineData("set", "timeout")]
    [InlineData("enable")]
    [InlineData("show", "interface")]
    [InlineData("frobnicate")]
    [InlineData("show", "eth1", "eth2")]
    public async Task Command_MissingOrExtraWords_ExitsTwo(params string[] args)
    {
        var result = await RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task SetEndpoint_UsernameWithoutPassword_ExitsTwo()
    {
        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw");

        Assert.Equal((2, "error: --username needs --password-file (or --password)\n"), (result.ExitCode, result.Error));
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task Enable_PasswordFileWithoutUsername_ExitsTwo()
    {
        var file = WriteFile("p", "pw\n");

        var result = await RunAsync("enable", "eth1", "--password-file", file);

        Assert.Equal((2, "error: a password needs --username\n"), (result.ExitCode, result.Error));
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task ServerStart_BothPasswordSources_ExitsTwo()
    {
        var file = WriteFile("p", "pw\n");

        var result = await RunAsync("server", "start", "127.0.0.1:1080", "--username", "a", "--password-file", file, "--password", "pw");

        Assert.Equal((2, "error: use either --password-file or --password, not both\n"), (result.ExitCode, result.Error));
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task SetEndpoint_MissingPasswordFile_ExitsTwoNamingIt()
    {
        var missing = Path.Combine(Dir.FullName, "missing.pass");

        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw", "--password-file", missing);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: cannot read password file {missing}", result.Error, StringComparison.Ordinal);
        Assert.Empty(Stub.Requests);
    }

    [Fact]
    public async Task SetEndpoint_EmptyPasswordFile_ExitsTwo()
    {
        var file = WriteFile("empty.pass", "\n");

        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw", "--password-file", file);

        Assert.Equal((2, "error: the password must be 1-255 bytes\n"), (result.ExitCode, result.Error));
    }

    [Fact]
    public async Task SetEndpoint_PasswordFileWithTwoNewlines_KeepsTheFirst()
    {
        var file = WriteFile("p", "pw\n\n");

        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("pw\n", Stub.SingleRequest().BodyAs(Control.ControlJsonContext.Default.SetEndpointRequest).Password);
    }
}
