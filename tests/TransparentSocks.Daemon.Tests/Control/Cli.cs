using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>The real `transparentsocks` CLI, run as a process against a daemon's control socket.</summary>
internal static class Cli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "transparentsocks.dll");

    public static Task<ProcessResult> RunAsync(string socket, params string[] args)
        => ExternalProcess.RunAsync("dotnet", [Dll, "--socket", socket, .. args], TimeSpan.FromSeconds(60));

    public static async Task<T> JsonAsync<T>(string socket, JsonTypeInfo<T> type, params string[] args)
    {
        var result = await RunAsync(socket, [.. args, "--json"]);
        Assert.True(result.ExitCode == 0, $"{string.Join(' ', args)}: exit {result.ExitCode}\n{result.Error}\n{result.Output}");
        return JsonSerializer.Deserialize(result.Output, type) ?? throw new InvalidOperationException("null JSON");
    }
}
