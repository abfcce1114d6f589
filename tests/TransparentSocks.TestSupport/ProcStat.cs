using System.Globalization;

namespace TransparentSocks.TestSupport;

/// <summary>What /proc says about another process (the daemon under test): CPU time, threads, resident memory (descriptors: <see cref="FdCounter"/>).</summary>
public static class ProcStat
{
    // USER_HZ: the unit of utime and stime in /proc/PID/stat. It is 100 on every Linux ABI .NET runs on; the kernel
    // reports in it whatever its own HZ is.
    private const double TicksPerSecond = 100;

    /// <summary>utime + stime of the whole process (all its threads) in seconds.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // Fields after the command name, which may hold spaces and ')': state is field 3, utime 14, stime 15.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / TicksPerSecond;
    }

    /// <summary>Threads of the process now.</summary>
    public static int Threads(int pid) => (int)StatusField(pid, "Threads:");

    /// <summary>VmRSS in KiB.</summary>
    public static long RssKib(int pid) => StatusField(pid, "VmRSS:");

    /// <summary>
    /// The CPU the process used over <paramref name="window"/>, in cores (1.0 = one core busy all the time), sampled
    /// from start to end so a short burst inside the window counts at its real weight.
    /// </summary>
    public static async Task<double> CoresOverAsync(int pid, TimeSpan window)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var before = CpuSeconds(pid);
        await Task.Delay(window);
        var used = CpuSeconds(pid) - before;
        return used / clock.Elapsed.TotalSeconds;
    }

    private static long StatusField(int pid, string name)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                return long.Parse(line[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no {name}");
    }
}
