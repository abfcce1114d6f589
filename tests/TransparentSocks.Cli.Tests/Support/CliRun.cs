using TransparentSocks.TestSupport;

namespace TransparentSocks.Cli.Tests.Support;

public sealed record CliResult(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Output}\nstderr: {Error}";
}

/// <summary>Runs transparentsocks in this process (fast, output captured) or as a real process (env, uid, exit status).</summary>
public static class CliRun
{
    public static string DllPath => typeof(CliApp).Assembly.Location;

    public static async Task<CliResult> InProcessAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.InvokeAsync(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static Task<ProcessResult> ProcessAsync(params string[] args)
        => ExternalProcess.RunAsync("dotnet", [DllPath, .. args], TimeSpan.FromSeconds(60));
}
