using System.Diagnostics;

namespace TransparentSocks.TestSupport;

/// <summary>Counts this process's open sockets, pipes and event/epoll descriptors, to catch leaks.</summary>
public static class FdCounter
{
    /// <summary>
    /// Descriptors that a proxy can leak: sockets, pipes and anonymous inodes (epoll, eventfd). Files are left out,
    /// because the runtime maps assemblies as it loads them, whenever its JIT decides, and that is no leak.
    /// </summary>
    public static int Count() => CountOf("self");

    /// <summary>The same for another process (the daemon under test), by pid.</summary>
    public static int CountOf(int pid) => CountOf(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static int CountOf(string process)
    {
        var count = 0;
        foreach (var entry in Directory.EnumerateFileSystemEntries($"/proc/{process}/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(entry).LinkTarget;
            }
            catch (IOException)
            {
                continue; // Closed while we looked.
            }

            if (target is not null && (target.StartsWith("socket:", StringComparison.Ordinal) || target.StartsWith("pipe:", StringComparison.Ordinal)
                || target.StartsWith("anon_inode:", StringComparison.Ordinal)))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>
    /// Polls until at most <paramref name="expected"/> descriptors are open, because sockets close on
    /// other threads after the test's last await. Returns the last count seen; the caller asserts.
    /// </summary>
    public static async Task<int> WaitForAsync(int expected, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var count = Count();
            if (count <= expected || clock.Elapsed >= timeout)
            {
                return count;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }
}
