using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A real program started without a shell, with stdout and stderr captured as they arrive.
/// Disposing it asks politely (SIGTERM) and then insists (SIGKILL on the process and its descendants).
/// </summary>
public sealed partial class ExternalProcess : IAsyncDisposable
{
    private const int SigTerm = 15;

    // Anything the lab starts talks to loopback or our own namespaces; a proxy inherited from the
    // environment (CI runners often set one) would silently reroute curl.
    private static readonly string[] ProxyVariables =
    [
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    ];

    // Root's PATH on a fresh machine does not always include the sbin directories where danted,
    // useradd and nft live.
    private static readonly string[] ExtraSearchDirectories = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

    private readonly Process _process;
    private readonly OutputCapture _output = new();
    private readonly OutputCapture _error = new();
    private readonly Task _pumps;
    private readonly Task _stdinWriter;
    private int _disposed;
    private int? _exitCodeAfterDispose;

    // Set once the Process object is disposed; from then on the state above answers for it.
    private volatile bool _released;

    private ExternalProcess(Process process, string commandLine, string? stdin, bool keepStandardInputOpen)
    {
        _process = process;
        CommandLine = commandLine;
        Pid = process.Id;
        _pumps = Task.WhenAll(
            PumpAsync(process.StandardOutput, _output),
            PumpAsync(process.StandardError, _error));
        _stdinWriter = keepStandardInputOpen && stdin is null
            ? Task.CompletedTask
            : WriteAndCloseStdinAsync(process.StandardInput, stdin);
    }

    public int Pid { get; }

    public string CommandLine { get; }

    public bool HasExited => _released ? _exitCodeAfterDispose is not null : _process.HasExited;

    /// <summary>The exit code once the program has exited (128 + signal when a signal ended it), else null.</summary>
    public int? ExitCode => _released
        ? _exitCodeAfterDispose
        : _process.HasExited ? _process.ExitCode : null;

    /// <summary>Everything written to stdout so far.</summary>
    public string Output => _output.Text;

    /// <summary>Everything written to stderr so far.</summary>
    public string Error => _error.Text;

    /// <summary>Only usable when started with <c>keepStandardInputOpen</c>; dispose it to send EOF.</summary>
    public Stream StandardInput => _process.StandardInput.BaseStream;

    private const string Gen0SizeVariable = "DOTNET_GCgen0size";
    private const string Gen0Size = "0x400000";

    /// <summary>How long disposal waits after SIGTERM before SIGKILL.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Starts <paramref name="fileName"/> with <paramref name="arguments"/> passed verbatim.
    /// stdin receives <paramref name="stdin"/> and then EOF, unless <paramref name="keepStandardInputOpen"/> is set.
    /// </summary>
    public static ExternalProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        string? stdin = null,
        bool keepStandardInputOpen = false)
    {
        var info = new ProcessStartInfo(ResolveExecutable(fileName))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var variable in ProxyVariables)
        {
            info.Environment.Remove(variable);
        }

        // The daemon's NativeAOT build has a 4 MiB gen0 budget built in (see its csproj); the JIT build the tests run
        // gets the same from the environment, or its heap would be sized by this machine's cache instead.
        if (!info.Environment.ContainsKey(Gen0SizeVariable))
        {
            info.Environment[Gen0SizeVariable] = Gen0Size;
        }

        var commandLine = FormatCommandLine(fileName, info.ArgumentList);
        var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"Could not start {commandLine}: {ex.Message}", ex);
        }

        return new ExternalProcess(process, commandLine, stdin, keepStandardInputOpen);
    }

    /// <summary>
    /// Runs a program to completion. On timeout the program and its descendants are killed and
    /// <see cref="TimeoutException"/> is thrown with whatever it had printed.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        string? stdin = null)
    {
        await using var process = Start(fileName, arguments, stdin);
        if (!await process.WaitForExitAsync(timeout))
        {
            process.KillTree();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(5));
            throw new TimeoutException(
                $"{process.CommandLine} did not exit within {timeout.TotalSeconds:0.#} s and was killed.\n{process.Describe()}");
        }

        return new ProcessResult(process._process.ExitCode, process.Output, process.Error);
    }

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit code throws with the program's output.</summary>
    public static async Task<ProcessResult> RunOrThrowAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        string? stdin = null)
    {
        var argumentList = arguments.ToArray();
        var result = await RunAsync(fileName, argumentList, timeout, stdin);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{FormatCommandLine(fileName, argumentList)} exited with {result.ExitCode}.\n"
                + $"stdout: {result.Output}\nstderr: {result.Error}");
        }

        return result;
    }

    /// <summary>Waits for the program to exit and its output to be read. False if it is still running.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using (var cts = new CancellationTokenSource(timeout))
        {
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        // A forked grandchild may still hold the pipes open; the program itself is gone, so bound the wait.
        await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(2)));
        return true;
    }

    /// <summary>Polls stdout and stderr until <paramref name="text"/> appears. False on timeout.</summary>
    public Task<bool> WaitForTextAsync(string text, TimeSpan timeout)
        => Poll.UntilAsync(() => Output.Contains(text, StringComparison.Ordinal) || Error.Contains(text, StringComparison.Ordinal), timeout);

    /// <summary>The command line, exit state and captured output, for assertion messages.</summary>
    public string Describe()
    {
        var state = ExitCode is { } code ? $"exited with {code}" : "running";
        return $"{CommandLine} (pid {Pid}, {state})\nstdout: {Output}\nstderr: {Error}";
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // HasExited also reaps; checking it first keeps us from signalling a recycled pid.
        if (!_process.HasExited)
        {
            _ = Kill(Pid, SigTerm);
            if (!await WaitForExitAsync(GracePeriod))
            {
                KillTree();
                await WaitForExitAsync(TimeSpan.FromSeconds(5));
            }
        }
        else
        {
            await Task.WhenAny(_pumps, Task.Delay(TimeSpan.FromSeconds(2)));
        }

        await Task.WhenAny(_stdinWriter, Task.Delay(TimeSpan.FromSeconds(1)));
        _exitCodeAfterDispose = _process.HasExited ? _process.ExitCode : null;
        _released = true;
        _process.Dispose();
    }

    private void KillTree()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static async Task PumpAsync(StreamReader reader, OutputCapture capture)
    {
        var buffer = new char[4096];
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(buffer.AsMemory());
                if (read == 0)
                {
                    return;
                }

                capture.Append(buffer.AsSpan(0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe went away with the process; what was captured stays.
        }
    }

    private static async Task WriteAndCloseStdinAsync(StreamWriter stdin, string? text)
    {
        try
        {
            if (text is not null)
            {
                await stdin.WriteAsync(text);
                await stdin.FlushAsync();
            }

            stdin.Close();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The program exited without reading its input (EPIPE).
        }
    }

    private static string ResolveExecutable(string fileName)
    {
        if (fileName.Contains('/', StringComparison.Ordinal))
        {
            return fileName;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var directories = path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ExtraSearchDirectories);
        foreach (var directory in directories)
        {
            var candidate = Path.Combine(directory, fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return fileName;
    }

    private static string FormatCommandLine(string fileName, IEnumerable<string> arguments)
    {
        var parts = arguments.Select(a => a.Length == 0 || a.Any(char.IsWhiteSpace) ? $"'{a}'" : a);
        return string.Join(' ', parts.Prepend(fileName));
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private sealed class OutputCapture
    {
        private readonly Lock _lock = new();
        private readonly StringBuilder _text = new();

        public string Text
        {
            get
            {
                lock (_lock)
                {
                    return _text.ToString();
                }
            }
        }

        public void Append(ReadOnlySpan<char> chunk)
        {
            lock (_lock)
            {
                _text.Append(chunk);
            }
        }
    }
}
