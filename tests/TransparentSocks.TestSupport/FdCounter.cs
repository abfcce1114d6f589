using System.Diagnostics;

namespace TransparentSocks.TestSupport;

/// <summary>Counts this process's open file descriptors, to catch leaked sockets and pipes.</summary>
public static class FdCounter
{
    /// <summary>Entries in /proc/self/fd (including the one the enumeration itself holds, consistently).</summary>
    public static int Count() => Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();

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
