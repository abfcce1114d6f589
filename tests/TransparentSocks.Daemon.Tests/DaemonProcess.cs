using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests;

/// <summary>transparentsocksd as a real process with a config file of the test's own.</summary>
internal sealed class DaemonProcess : IAsyncDisposable
{
    private readonly string _directory;

    private DaemonProcess(string directory, ExternalProcess process)
    {
        _directory = directory;
        Process = process;
    }

    public ExternalProcess Process { get; }

    public string Log => Process.Output + Process.Error;

    public static string DaemonDll => typeof(Program).Assembly.Location;

    /// <summary>
    /// Writes the config into a directory of the test's own. Unless the test sets one, the control socket goes there
    /// too, so daemons of tests running side by side never meet at the default path.
    /// </summary>
    public static string WriteConfig(string json)
    {
        var directory = Directory.CreateTempSubdirectory("tsd-test-").FullName;
        var path = Path.Combine(directory, "config.json");
        File.WriteAllText(path, WithControlSocket(json, Path.Combine(directory, "control.sock")));
        return path;
    }

    public static string ControlSocketOf(string configPath) => Path.Combine(Path.GetDirectoryName(configPath)!, "control.sock");

    internal static string WithControlSocket(string json, string socket)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException)
        {
            return json; // Tests of broken files keep their bytes.
        }

        if (node is JsonObject root && !root.ContainsKey("control"))
        {
            root["control"] = new JsonObject { ["socket"] = socket };
            return root.ToJsonString();
        }

        return json;
    }

    public static DaemonProcess Start(string configJson)
    {
        var path = WriteConfig(configJson);
        return new DaemonProcess(Path.GetDirectoryName(path)!, ExternalProcess.Start("dotnet", [DaemonDll, "--config", path]));
    }

    /// <summary>Starts the daemon and waits until it listens on <paramref name="listen"/>; fails the test with its log if not.</summary>
    public static async Task<DaemonProcess> StartListeningAsync(IPEndPoint listen, string configJson)
    {
        var daemon = Start(configJson);
        if (!await daemon.WaitListeningAsync(listen))
        {
            var log = daemon.Log;
            await daemon.DisposeAsync();
            Assert.Fail($"daemon did not listen on {listen}:\n{log}");
        }

        return daemon;
    }

    public static Task<ProcessResult> RunToExitAsync(params string[] args)
        => ExternalProcess.RunAsync("dotnet", [DaemonDll, .. args], TimeSpan.FromSeconds(60));

    public async Task<bool> WaitListeningAsync(IPEndPoint endPoint) => await ListenProbe.WaitAsync(Process, endPoint, attempts: 150);

    public async Task<int?> TerminateAsync(TimeSpan timeout)
    {
        await ExternalProcess.RunOrThrowAsync("kill", ["-TERM", Process.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
        return await Process.WaitForExitAsync(timeout) ? Process.ExitCode : null;
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
