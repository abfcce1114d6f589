using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// The share of the process's descriptor limit (RLIMIT_NOFILE) that connections may hold. Every socket and pipe the
/// data path opens is taken from it first, so clients can exhaust the budget but never the process: the rest stays
/// free for the runtime, whose own threads die on EMFILE (the JIT runtime aborts with "Out of memory." when a
/// pipe2 of its own fails) and for the control socket, logs and assemblies.
/// </summary>
/// <remarks>
/// Until <see cref="Initialize"/> runs (tests, tools) the budget is unlimited and only counts.
/// The count is of descriptors, not connections: a spliced session holds two sockets and two pipes, a copied one
/// two sockets, a pooled empty pipe two descriptors and no session at all.
/// </remarks>
public static class FdBudget
{
    /// <summary>What a spliced TCP session holds at most: client, outbound, and a pipe (two fds) per direction.</summary>
    public const int PerConnection = 6;

    private const int MinReserve = 64;
    private const int MaxReserve = 1024;

    // Raising the soft limit to a hard limit of "unlimited" (2^63 on some hosts) would size nothing sensibly.
    private const ulong MaxRaisedLimit = 1 << 20;

    private static int _open;
    private static int _ceiling = int.MaxValue;

    /// <summary>RLIMIT_NOFILE's soft limit after <see cref="Initialize"/>; 0 before.</summary>
    public static int Limit { get; private set; }

    /// <summary>The soft limit the process was started with, before it was raised.</summary>
    public static int InitialLimit { get; private set; }

    /// <summary>Descriptors kept out of the budget: for the runtime, and whatever the process held at start.</summary>
    public static int Reserve { get; private set; }

    /// <summary>Descriptors the data path may hold at once.</summary>
    public static int Ceiling => Volatile.Read(ref _ceiling);

    /// <summary>Descriptors the data path holds now.</summary>
    public static int Open => Volatile.Read(ref _open);

    /// <summary>
    /// Raises the soft descriptor limit to the hard one (as nginx's worker_rlimit_nofile and systemd's advice for
    /// services do: the soft limit of 1024 exists for select(), which nothing here uses), then sets the budget to
    /// the limit less a reserve and less what the process already holds. Call once, early, before any listener.
    /// </summary>
    public static unsafe void Initialize()
    {
        Sys.RLimit limit;
        if (Sys.getrlimit(Sys.RLIMIT_NOFILE, &limit) != 0)
        {
            return;
        }

        InitialLimit = (int)Math.Min(limit.Current, int.MaxValue);
        var wanted = Math.Min(limit.Maximum, MaxRaisedLimit);
        if (wanted > limit.Current)
        {
            var raised = limit;
            raised.Current = wanted;
            if (Sys.setrlimit(Sys.RLIMIT_NOFILE, &raised) == 0)
            {
                limit = raised;
            }
        }

        Limit = (int)Math.Min(limit.Current, int.MaxValue);
        Reserve = Math.Clamp(Limit / 8, MinReserve, MaxReserve);
        Volatile.Write(ref _ceiling, Math.Max(0, Limit - Reserve - CountOpen()));
    }

    /// <summary>True when <paramref name="fds"/> more would fit; a hint (another thread may take them first).</summary>
    public static bool HasRoom(int fds) => Volatile.Read(ref _open) + fds <= Volatile.Read(ref _ceiling);

    /// <summary>Takes <paramref name="fds"/> before they are opened; false (and nothing taken) when they do not fit.</summary>
    public static bool TryTake(int fds)
    {
        if (Interlocked.Add(ref _open, fds) <= Volatile.Read(ref _ceiling))
        {
            return true;
        }

        Interlocked.Add(ref _open, -fds);
        return false;
    }

    /// <summary>Counts descriptors that already exist (an accepted connection) whether or not they fit.</summary>
    public static void Add(int fds) => Interlocked.Add(ref _open, fds);

    /// <summary>Gives back descriptors taken or added, once they are closed (or were never opened).</summary>
    public static void Release(int fds) => Interlocked.Add(ref _open, -fds);

    /// <summary>How many empty pipes the splice pool may keep: a small share of the budget, never half of it.</summary>
    public static int MaxPooledPipes(int cap) => (int)Math.Min(cap, Math.Max(0L, Volatile.Read(ref _ceiling) / 16L));

    private static int CountOpen()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return 0;
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
