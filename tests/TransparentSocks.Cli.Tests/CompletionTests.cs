using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Cli.Tests;

/// <summary>
/// The script from <c>completion bash</c>, sourced by a real bash, completing with COMP_WORDS/COMP_LINE/COMP_POINT set
/// the way readline sets them and the real program answering the [suggest] directive.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CompletionTests : IDisposable
{
    private readonly DirectoryInfo _bin = Directory.CreateTempSubdirectory("tscli-bin-");

    public CompletionTests()
    {
        // The script calls the program by the name the user typed, so it must be on PATH like an installed binary.
        var shim = Path.Combine(_bin.FullName, "transparentsocks");
        File.WriteAllText(shim, $"#!/bin/sh\nexec dotnet '{CliRun.DllPath}' \"$@\"\n");
        File.SetUnixFileMode(shim, (UnixFileMode)0b111_101_101);
    }

    public void Dispose() => _bin.Delete(recursive: true);

    [Fact]
    public async Task CompletionBash_PrintsScriptRegisteringTheFunction()
    {
        var result = await CliRun.InProcessAsync("completion", "bash");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("complete -o default -F _transparentsocks transparentsocks", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("transparentsocks ", "completion config disable doctor enable group reload server set show upstream")]
    [InlineData("transparentsocks upstream ", "add remove")]
    [InlineData("transparentsocks upstream add vpn 192.0.2.1:1080 --protocol ", "http socks5")]
    [InlineData("transparentsocks group ", "remove set")]
    [InlineData("transparentsocks group set pool --policy ", "failover hash least-connections round-robin")]
    [InlineData("transparentsocks group set pool a --int", "--interval")]
    [InlineData("transparentsocks enable eth1 --ups", "--upstream")]
    [InlineData("transparentsocks server start 127.0.0.1:1080 --out", "--outbound")]
    [InlineData("transparentsocks s", "server set show")]
    [InlineData("transparentsocks show s", "server sessions")]
    [InlineData("transparentsocks show sessions --l", "--limit")]
    [InlineData("transparentsocks set ", "endpoint max-pool-size pooling timeout verbose")]
    [InlineData("transparentsocks set pooling ", "off on")]
    [InlineData("transparentsocks set verbose of", "off")]
    [InlineData("transparentsocks server ", "start stop")]
    [InlineData("transparentsocks --socket /tmp/x.sock show --j", "--json")]
    [InlineData("transparentsocks completion ", "bash")]
    public async Task Script_PartialCommandLine_CompletesInBash(string line, string expected)
    {
        var words = await CompleteAsync(line);

        Assert.Equal(expected.Split(' '), words.Where(w => !w.StartsWith('-') || expected.StartsWith('-')));
    }

    [Fact]
    public async Task Script_EnableInterface_OffersThisMachinesInterfaces()
    {
        var words = await CompleteAsync("transparentsocks enable l");

        Assert.Contains("lo", words);
    }

    private async Task<string[]> CompleteAsync(string line)
    {
        const string Simulate = """
            set -e
            source <(transparentsocks completion bash)
            COMP_LINE="$1"
            COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<< "$COMP_LINE"
            if [[ "$COMP_LINE" == *" " ]]; then COMP_WORDS+=(""); fi
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMPREPLY=()
            _transparentsocks
            printf '%s\n' "${COMPREPLY[@]}" | sort
            """;
        var path = $"{_bin.FullName}:{Environment.GetEnvironmentVariable("PATH")}";
        var result = await ExternalProcess.RunAsync(
            "env",
            [$"PATH={path}", "bash", "-c", Simulate, "complete-test", line],
            TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, $"{result.ExitCode}\n{result.Output}\n{result.Error}");
        return result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
