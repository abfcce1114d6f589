using System.Runtime.CompilerServices;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Packaging.Tests;

/// <summary>
/// The .deb installed and run under a booted systemd (booted-systemd.sh: debootstrap root filesystem, nspawn as the
/// gateway of a client/target lab). The script prints "ok: ..." per check and names the first failure.
/// </summary>
[Trait("Category", "Integration")]
public sealed class BootedSystemdTests
{
    [Fact]
    public async Task Deb_InstalledUnderBootedSystemd_BehavesAsAWellMadeDebianService()
    {
        // From the source tree: the script builds the .deb from the repository when it is not given one.
        var script = Path.Combine(Path.GetDirectoryName(SourceFile())!, "booted-systemd.sh");

        // Built during the test project's build in CI (BuildDebForTests); otherwise the script builds it.
        var deb = Directory.Exists(Path.Combine(AppContext.BaseDirectory, "deb"))
            ? Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "deb"), "transparentsocks_*.deb").FirstOrDefault()
            : null;

        var result = await ExternalProcess.RunAsync("bash", deb is null ? [script] : [script, deb], TimeSpan.FromMinutes(4.5));

        Assert.True(result.ExitCode == 0, $"booted-systemd.sh failed ({result.ExitCode}):\n{result.Output}\n{result.Error}");
        Assert.Contains("booted-systemd: all checks passed", result.Output, StringComparison.Ordinal);
    }

    private static string SourceFile([CallerFilePath] string path = "") => path;
}
