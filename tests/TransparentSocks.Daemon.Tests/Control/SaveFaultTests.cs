using TransparentSocks.Control;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>
/// A change that cannot be saved is refused and changes nothing. The daemon runs in a mount namespace of its own
/// (unshare -m), with its config directory on a 512 KiB tmpfs that only it sees, so the test can fill that disk or
/// make it read-only without touching the host; its control socket lives outside, where the test reaches it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SaveFaultTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ChangeOnAFullDiskOrAReadOnlyConfigDirectory_IsRefusedNamingTheFile_AndNothingChanges()
    {
        var root = Directory.CreateTempSubdirectory("ts-savefault-").FullName;
        var etc = Path.Combine(root, "etc");
        Directory.CreateDirectory(etc);
        var socket = Path.Combine(root, "control.sock");
        var seed = Path.Combine(root, "seed.json");
        File.WriteAllText(seed, $$"""{ "control": { "socket": "{{socket}}" } }""");
        var config = Path.Combine(etc, "config.json");

        // unshare execs sh, which execs the daemon: the PID is the daemon's, and nsenter -t PID -m enters its mounts.
        await using var daemon = ExternalProcess.Start("unshare", [
            "-m", "--propagation", "private", "sh", "-c",
            $"mount -t tmpfs -o size=512k tsfault '{etc}' && cp '{seed}' '{config}' && exec dotnet '{DaemonProcess.DaemonDll}' --config '{config}'",
        ]);
        try
        {
            Assert.True(await daemon.WaitForTextAsync("control socket", Timeout), daemon.Output + daemon.Error);
            var pid = daemon.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Task<ProcessResult> InMounts(string command) => ExternalProcess.RunAsync("nsenter", ["-t", pid, "-m", "sh", "-c", command], Timeout);
            var before = (await InMounts($"cat '{config}'")).Output;

            // Full: the staged file cannot be written.
            await InMounts($"dd if=/dev/zero of='{etc}/fill' bs=4k 2>/dev/null; true");
            await AssertRefusedAsync("u1", "No space left on device");

            // Read-only: it cannot even be created.
            await InMounts($"rm -f '{etc}/fill' && mount -o remount,ro '{etc}'");
            await AssertRefusedAsync("u2", "Read-only file system");

            // Writable again: the same change goes through, running and saved.
            await InMounts($"mount -o remount,rw '{etc}'");
            var ok = await Cli.RunAsync(socket, "upstream", "add", "u3", "198.51.100.3:1080");
            Assert.True(ok.ExitCode == 0, ok.Error + daemon.Output + daemon.Error);
            Assert.Contains("\"u3\"", (await InMounts($"cat '{config}'")).Output, StringComparison.Ordinal);

            async Task AssertRefusedAsync(string name, string why)
            {
                var refused = await Cli.RunAsync(socket, "upstream", "add", name, "198.51.100.1:1080");
                Assert.NotEqual(0, refused.ExitCode);
                Assert.Contains($"cannot save {config}", refused.Error, StringComparison.Ordinal);
                Assert.Contains(why, refused.Error, StringComparison.Ordinal);
                Assert.Contains("nothing was changed", refused.Error, StringComparison.Ordinal);
                var running = (await Cli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
                Assert.DoesNotContain(running, u => u.Name == name);
                Assert.Equal(before, (await InMounts($"cat '{config}'")).Output);
                var leftovers = (await InMounts($"ls -A '{etc}'")).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.DoesNotContain(leftovers, f => f.EndsWith(".tmp", StringComparison.Ordinal));
            }
        }
        finally
        {
            await daemon.DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }
}
