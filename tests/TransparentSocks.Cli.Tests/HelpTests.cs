using System.CommandLine;
using TransparentSocks.Cli.Tests.Support;

namespace TransparentSocks.Cli.Tests;

[Trait("Category", "Unit")]
public sealed class HelpTests
{
    public static TheoryData<string> EveryCommand()
    {
        var data = new TheoryData<string>();
        foreach (var path in Paths(CliApp.Build(), []))
        {
            data.Add(string.Join(' ', path));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryCommand))]
    public async Task Help_EveryCommand_ShowsAnExample(string command)
    {
        var result = await CliRun.InProcessAsync([.. command.Split(' ', StringSplitOptions.RemoveEmptyEntries), "--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"Examples?:\n +[^\n]*transparentsocks ", result.Output);
    }

    [Fact]
    public async Task Help_Root_ListsExitCodes()
    {
        var result = await CliRun.InProcessAsync("--help");

        foreach (var code in new[] { "0 ", "1 ", "2 ", "3 ", "69", "77" })
        {
            Assert.Contains($"\n    {code}", result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Help_Root_ListsSubcommandsWithoutTheirExamples()
    {
        var result = await CliRun.InProcessAsync("--help");

        var commands = result.Output[result.Output.IndexOf("Commands:", StringComparison.Ordinal)..];
        Assert.Contains("  enable <IFACE>", commands, StringComparison.Ordinal);
        Assert.DoesNotContain("Example", commands, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_AfterAnotherCommandsHelp_StillShowsEveryExample()
    {
        await CliRun.InProcessAsync("set", "--help");

        var result = await CliRun.InProcessAsync("set", "timeout", "--help");

        Assert.Contains("transparentsocks set timeout 600", result.Output, StringComparison.Ordinal);
    }

    private static IEnumerable<string[]> Paths(Command command, string[] prefix)
    {
        yield return prefix;
        foreach (var sub in command.Subcommands)
        {
            foreach (var path in Paths(sub, [.. prefix, sub.Name]))
            {
                yield return path;
            }
        }
    }
}
