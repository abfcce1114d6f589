using System.Runtime.CompilerServices;
using TransparentSocks.Fuzz.Targets;

namespace TransparentSocks.Core.Tests.Fuzz;

/// <summary>
/// Every committed seed and crash regression of the SharpFuzz harness, through the same targets and invariant checks
/// afl-fuzz runs, so the corpus guards the codec and the config loader under <c>dotnet test</c> without AFL.
/// </summary>
[Trait("Category", "Unit")]
public class FuzzCorpusReplayTests
{
    private static readonly string FuzzRoot = HarnessDirectory();

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "corpus", "regressions" })
        {
            var root = Path.Combine(FuzzRoot, kind);
            if (!Directory.Exists(root))
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                var relative = Path.GetRelativePath(FuzzRoot, file);
                data.Add(relative.Split(Path.DirectorySeparatorChar)[1], relative);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Target_CommittedInput_KeepsEveryInvariant(string target, string file)
    {
        Assert.True(FuzzTargets.All.TryGetValue(target, out var run), $"{file} is under '{target}', which is not a fuzz target");

        run(File.ReadAllBytes(Path.Combine(FuzzRoot, file)));
    }

    [Fact]
    public void Corpus_EveryTarget_HasSeeds()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            var seeds = Path.Combine(FuzzRoot, "corpus", target);
            Assert.True(Directory.Exists(seeds) && Directory.EnumerateFiles(seeds).Any(), $"no seed corpus for {target} in {seeds}");
        }
    }

    private static string HarnessDirectory([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "TransparentSocks.Fuzz"));
}
