using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests;

/// <summary>--password works, warns on stderr, and the password never appears in the output.</summary>
[Trait("Category", "Unit")]
public sealed class PasswordTests : StubbedCliTest
{
    private const string Secret = "hunter2-on-the-command-line";

    [Theory]
    [InlineData("set", "endpoint", "127.0.0.1:1081")]
    [InlineData("enable", "eth1", "--proxy", "10.0.0.2:1080")]
    [InlineData("server", "start", "127.0.0.1:1080")]
    public async Task Command_InlinePassword_WarnsAndSendsItButNeverPrintsIt(params string[] args)
    {
        var result = await RunAsync([.. args, "--username", "gw", "--password", Secret]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("warning: --password is visible to other users in ps", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.Error, StringComparison.Ordinal);
        Assert.Contains($"\"password\": \"{Secret}\"", Stub.SingleRequest().Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetEndpoint_InlinePasswordAndDaemonError_NeverPrintsIt()
    {
        Stub.ReplyToAll(StubReply.Error(400, ErrorCodes.InvalidArgument, "bad credentials", "password"));

        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw", "--password", Secret);

        Assert.Equal(2, result.ExitCode);
        Assert.DoesNotContain(Secret, result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetEndpoint_PasswordFile_DoesNotWarn()
    {
        var file = WriteFile("p", Secret + "\n");

        var result = await RunAsync("set", "endpoint", "127.0.0.1:1081", "--username", "gw", "--password-file", file);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(result.Error);
        Assert.DoesNotContain(Secret, result.Output, StringComparison.Ordinal);
    }
}
