using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using static Tmds.Linux.LibC;

namespace TransparentSocks.Linux.Relay;

/// <summary>
/// The kernel pipe one relay direction splices through. Empty pipes are pooled (with a cap) so that a short
/// connection does not pay for pipe2 + F_SETPIPE_SZ + two closes; a pipe that may still hold bytes is closed.
/// </summary>
internal sealed unsafe class PipePair(int readFd, int writeFd, int capacity)
{
    // At most; a small descriptor limit gets a pool in proportion (FdBudget), never up to half of the limit.
    private const int MaxPooled = 256;
    private static readonly Lock PoolLock = new();
    private static readonly Stack<PipePair> Pool = new();
    private static int s_rented;

    public int ReadFd { get; } = readFd;

    public int WriteFd { get; } = writeFd;

    public int Capacity { get; } = capacity;

    public static int PooledCount
    {
        get
        {
            lock (PoolLock)
            {
                return Pool.Count;
            }
        }
    }

    /// <summary>Pipes out of the pool, held by relay directions that are moving bytes.</summary>
    public static int Rented => Volatile.Read(ref s_rented);

    public static PipePair? Rent(int size, out Errno error)
    {
        var pipe = RentCore(size, out error);
        if (pipe is not null)
        {
            Interlocked.Increment(ref s_rented);
        }

        return pipe;
    }

    private static PipePair? RentCore(int size, out Errno error)
    {
        lock (PoolLock)
        {
            while (Pool.TryPop(out var pooled))
            {
                if (pooled.Capacity >= Math.Min(size, 65536))
                {
                    error = Errno.None;
                    return pooled;
                }

                pooled.Close();
            }
        }

        // Without a pipe the direction copies through a buffer instead, which costs no descriptor.
        if (!FdBudget.TryTake(2))
        {
            error = Errno.EMFILE;
            return null;
        }

        var fds = stackalloc int[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        {
            error = (Errno)errno;
            FdBudget.Release(2);
            return null;
        }

        // Raising the size can fail (fs.pipe-max-size for unprivileged users); the default 64 KiB still works.
        var capacity = fcntl(fds[1], F_SETPIPE_SZ, size);
        if (capacity <= 0)
        {
            capacity = fcntl(fds[1], F_GETPIPE_SZ, 0);
        }

        error = Errno.None;
        return new PipePair(fds[0], fds[1], capacity > 0 ? capacity : 65536);
    }

    public void Return(bool empty)
    {
        Interlocked.Decrement(ref s_rented);
        if (empty)
        {
            lock (PoolLock)
            {
                if (Pool.Count < FdBudget.MaxPooledPipes(MaxPooled))
                {
                    Pool.Push(this);
                    return;
                }
            }
        }

        Close();
    }

    private void Close()
    {
        _ = Sys.close(ReadFd);
        _ = Sys.close(WriteFd);
        FdBudget.Release(2);
    }
}
