using TransparentSocks.Linux.Processes;

namespace TransparentSocks.Linux.Tests.Processes;

/// <summary>How a system tool that cannot run, or refuses at once, comes back: as a result, never as an exception.</summary>
[Trait("Category", "Unit")]
public sealed class CommandTests
{
    [Fact]
    public async Task RunAsync_NotExecutable_IsExitCode127NamingThePathAndTheErrno()
    {
        var result = await Command.RunAsync("/dev/null", [], stdin: "flush ruleset\n");

        Assert.Equal(127, result.ExitCode);
        Assert.Equal("cannot run /dev/null: Permission denied", result.Message);
    }

    [Fact]
    public async Task RunAsync_Missing_IsExitCode127()
    {
        var result = await Command.RunAsync("/nonexistent/ts-no-such-tool", []);

        Assert.Equal(127, result.ExitCode);
        Assert.Contains("No such file or directory", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ExitsWithoutReadingItsInput_IsItsOwnExitCodeNotABrokenPipe()
    {
        // More than a pipe holds, so the write meets EPIPE once `false` has exited.
        var result = await Command.RunAsync("false", [], stdin: new string('x', 1 << 20));

        Assert.Equal(1, result.ExitCode);
    }
}
