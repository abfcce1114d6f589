using TransparentSocks.Linux.Processes;

namespace TransparentSocks.Cli.Doctor;

/// <summary>The system tools as the checks need them: a tool that is not installed is a finding, not an error.</summary>
internal static class Tools
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>What the tool said; null when it is not installed.</summary>
    public static async Task<Command.Result?> RunAsync(string program, string[] args, string? stdin = null)
        => Command.Find(program) is null ? null : await Command.RunAsync(program, args, stdin, Timeout).ConfigureAwait(false);
}
