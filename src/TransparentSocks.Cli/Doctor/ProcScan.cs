using System.Globalization;

namespace TransparentSocks.Cli.Doctor;

/// <summary>The open-file limit, read from /proc for the running daemon, which the doctor finds there by name.</summary>
internal static class ProcScan
{
    /// <summary>The open-file limit below which 100k concurrent sessions (two sockets each, plus pipes) cannot run.</summary>
    public const long MinOpenFiles = 100_000;

    /// <summary>The daemon's own limit when it runs (systemd sets it), else this shell's, which a manual start inherits.</summary>
    public static CheckResult CheckOpenFiles()
    {
        const string name = "open-files";
        var pid = FindDaemonPid();
        var limits = pid is null ? "/proc/self/limits" : $"/proc/{pid}/limits";
        long? soft = null;
        try
        {
            var line = File.ReadLines(limits).FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is { Length: > 0 })
            {
                soft = fields[0] == "unlimited" ? long.MaxValue : long.Parse(fields[0], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        var whose = pid is null ? "this shell (a daemon started from it inherits it)" : $"transparentsocksd (pid {pid})";
        return soft switch
        {
            null => new(CheckStatus.Skip, name, $"cannot read {limits}"),
            < MinOpenFiles => new(CheckStatus.Warn, name, $"{whose} may open {soft} files: fewer than {MinOpenFiles} limits concurrent sessions (LimitNOFILE= in the unit, ulimit -n)"),
            _ => new(CheckStatus.Ok, name, $"{whose} may open {(soft == long.MaxValue ? "unlimited" : soft.Value.ToString(CultureInfo.InvariantCulture))} files"),
        };
    }

    private static int? FindDaemonPid()
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && File.Exists($"{dir}/exe")
                    && ReadComm(dir) == "transparentsock")
                {
                    return pid;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    // comm is cut to 15 bytes: "transparentsocksd" shows as "transparentsock", which the CLI itself never matches.
    private static string? ReadComm(string dir)
    {
        try
        {
            var comm = File.ReadAllText($"{dir}/comm").Trim();
            return comm == "transparentsock" && !File.ReadAllText($"{dir}/cmdline").Contains("doctor", StringComparison.Ordinal) ? comm : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
