using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests;

/// <summary>An error answer becomes "error: MESSAGE (field: F)" on stderr and the exit code of its class.</summary>
[Trait("Category", "Unit")]
public sealed class DaemonErrorTests : StubbedCliTest
{
    [Theory]
    [InlineData(400, ErrorCodes.InvalidArgument, 2)]
    [InlineData(400, ErrorCodes.InvalidJson, 2)]
    [InlineData(404, ErrorCodes.NotFound, 3)]
    [InlineData(405, ErrorCodes.MethodNotAllowed, 1)]
    [InlineData(409, ErrorCodes.FailedPrecondition, 1)]
    [InlineData(500, ErrorCodes.Internal, 1)]
    public async Task AnyCommand_ErrorCode_ExitsWithItsClass(int status, string code, int exitCode)
    {
        Stub.ReplyToAll(StubReply.Error(status, code, "it went wrong"));

        var result = await RunAsync("set", "timeout", "60");

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Equal("error: it went wrong\n", result.Error);
        Assert.Empty(result.Output);
    }

    [Fact]
    public async Task Enable_InvalidArgumentWithField_PrintsTheField()
    {
        Stub.ReplyToAll(StubReply.Error(400, ErrorCodes.InvalidArgument, "no such interface: eth9", "name"));

        var result = await RunAsync("enable", "eth9");

        Assert.Equal((2, "error: no such interface: eth9 (field: name)\n"), (result.ExitCode, result.Error));
    }

    [Fact]
    public async Task ShowInterface_NotEnabled_ExitsThree()
    {
        var result = await RunAsync("show", "eth7");

        Assert.Equal(3, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Equal("/v1/interfaces/eth7", Stub.SingleRequest().Target);
    }

    [Fact]
    public async Task ServerStart_FailedPrecondition_ExitsOne()
    {
        Stub.On(HttpMethod.Post, ControlApi.ServerStart, StubReply.Error(409, ErrorCodes.FailedPrecondition, "bind 127.0.0.1:1080: address in use"));

        var result = await RunAsync("server", "start", "127.0.0.1:1080");

        Assert.Equal((1, "error: bind 127.0.0.1:1080: address in use\n"), (result.ExitCode, result.Error));
    }

    [Theory]
    [InlineData(400, 2)]
    [InlineData(404, 3)]
    [InlineData(409, 1)]
    [InlineData(500, 1)]
    [InlineData(502, 1)]
    public async Task AnyCommand_ErrorStatusWithoutErrorBody_ExitsByStatus(int status, int exitCode)
    {
        Stub.ReplyToAll(new StubReply(status, "oops"));

        var result = await RunAsync("reload");

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains($"HTTP {status}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_SuccessWithUnreadableBody_ExitsOne()
    {
        Stub.ReplyToAll(new StubReply(200, "{\"version\": 3"));

        var result = await RunAsync("show");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: unexpected answer from transparentsocksd", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowJson_SuccessWithNonJsonBody_ExitsOne()
    {
        Stub.ReplyToAll(new StubReply(200, "not json"));

        var result = await RunAsync("show", "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.Empty(result.Output);
    }
}
