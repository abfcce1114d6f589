using System.Globalization;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>transparentsocksd running inside a namespace (the gateway of a lab), with a config file of the test's own.</summary>
internal sealed class NamespacedDaemon : IAsyncDisposable
{
    private NamespacedDaemon(NetworkNamespace ns, string configPath, ExternalProcess process)
    {
        Namespace = ns;
        ConfigPath = configPath;
        Process = process;
    }

    public NetworkNamespace Namespace { get; }

    public string ConfigPath { get; }

    public ExternalProcess Process { get; private set; }

    public string Log => Process.Output + Process.Error;

    public static async Task<NamespacedDaemon> StartAsync(NetworkNamespace ns, string configJson)
    {
        var path = DaemonProcess.WriteConfig(configJson);
        var daemon = new NamespacedDaemon(ns, path, Launch(ns, path));
        try
        {
            await daemon.WaitStartedAsync();
        }
        catch
        {
            // A daemon that never said it started may still be running (a log level that hides the line, a hang):
            // the caller gets no object to dispose, and a live process would keep the test's namespace alive.
            await daemon.DisposeAsync();
            throw;
        }

        return daemon;
    }

    private static ExternalProcess Launch(NetworkNamespace ns, string path) => ns.Start("dotnet", DaemonProcess.DaemonDll, "--config", path);

    private async Task WaitStartedAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (Log.Contains("transparentsocksd started", StringComparison.Ordinal))
            {
                return;
            }

            if (Process.HasExited)
            {
                break;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"daemon did not start:\n{Log}");
    }

    /// <summary>Rewrites the config and sends SIGHUP; waits for the daemon to log the outcome.</summary>
    public async Task<bool> ReloadAsync(string configJson)
    {
        var marker = Log.Length;
        await File.WriteAllTextAsync(ConfigPath, DaemonProcess.WithControlSocket(configJson, DaemonProcess.ControlSocketOf(ConfigPath)));
        await SignalAsync("HUP");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var tail = Log[Math.Min(marker, Log.Length)..];
            if (tail.Contains("configuration reloaded", StringComparison.Ordinal))
            {
                return true;
            }

            if (tail.Contains("reload refused", StringComparison.Ordinal))
            {
                return false;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no reload outcome logged:\n{Log}");
    }

    /// <summary>Asks for the statistics (SIGUSR1) and returns the "stats:" lines the daemon logged in answer.</summary>
    public async Task<IReadOnlyList<string>> StatsAsync(int expectedLines)
    {
        var marker = Log.Length;
        await SignalAsync("USR1");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            // Only whole lines: the log is read while the daemon may be halfway through writing one.
            var text = Log[Math.Min(marker, Log.Length)..];
            var complete = text[..(text.LastIndexOf('\n') + 1)];
            var lines = complete.Split('\n').Where(l => l.Contains("stats: ", StringComparison.Ordinal)).ToList();
            if (lines.Count >= expectedLines)
            {
                return lines;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"no statistics logged:\n{Log}");
    }

    public Task SignalAsync(string signal)
        => ExternalProcess.RunOrThrowAsync("kill", [$"-{signal}", Process.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));

    public async Task<int?> StopAsync()
    {
        await SignalAsync("TERM");
        return await Process.WaitForExitAsync(TimeSpan.FromSeconds(30)) ? Process.ExitCode : null;
    }

    /// <summary>SIGKILL, as a crash would: nothing of the daemon's cleanup runs.</summary>
    public async Task KillAsync()
    {
        await SignalAsync("KILL");
        await Process.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    public async Task RestartAsync()
    {
        await Process.DisposeAsync();
        Process = Launch(Namespace, ConfigPath);
        await WaitStartedAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        File.Delete(ConfigPath);
        Directory.Delete(Path.GetDirectoryName(ConfigPath)!, recursive: true);
    }
}
