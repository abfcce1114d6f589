using System.Diagnostics;
using System.Globalization;

namespace TransparentSocks.Linux.Processes;

/// <summary>Runs the system's own tools (nft, ip) without a shell, with a deadline, and returns what they said.</summary>
public static class Command
{
    private static readonly string[] ToolDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    public readonly record struct Result(int ExitCode, string Output, string Error)
    {
        public bool Ok => ExitCode == 0;

        /// <summary>The tool's own message, for logs and errors.</summary>
        public string Message => (string.IsNullOrWhiteSpace(Error) ? Output : Error).Trim();

        /// <summary>Everything the tool printed, stdout then stderr, for looking for its words.</summary>
        public string Text => Output + Error;
    }

    public static async Task<Result> RunAsync(string program, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(Resolve(program))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        Process? started;
        try
        {
            started = Process.Start(info);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            // Missing, not executable, or not a program: the caller's error, not a crash. 127 is the shell's
            // "command not found".
            return new Result(127, string.Empty, $"cannot run {info.FileName}: {new System.ComponentModel.Win32Exception(ex.NativeErrorCode).Message}");
        }

        using var process = started ?? throw new InvalidOperationException($"cannot start {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // EPIPE: it exited (or closed its stdin) before reading all of it. Its exit code and message below say
            // why; a tool that refuses early must not take the daemon down with it.
        }

        var limit = timeout ?? TimeSpan.FromSeconds(30);
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return new Result(-1, string.Empty, $"{program} did not finish within {limit.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s");
        }

        return new Result(process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    /// <summary>
    /// Where the tool is installed in the system directories, or null. A service's PATH, and sudo's or cron's, may
    /// lack the sbin directories where nft and ip live, so these are searched instead of PATH.
    /// </summary>
    public static string? Find(string program)
    {
        foreach (var dir in ToolDirectories)
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    // A tool outside the system directories is left to PATH.
    private static string Resolve(string program) => Find(program) ?? program;
}
