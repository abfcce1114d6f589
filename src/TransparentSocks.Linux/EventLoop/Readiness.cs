using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.EventLoop;

/// <summary>
/// One direction (readable or writable) of an edge-triggered epoll registration, as a reusable awaitable.
/// </summary>
/// <remarks>
/// The caller snapshots <see cref="Tick"/>, tries the system call, and on EAGAIN waits with that snapshot.
/// An event that arrived between the snapshot and the wait has moved the tick on, so the wait completes at once
/// and the caller retries: no wakeup is lost and no lock is taken on the fast path.
/// Continuations run inline on the thread that signals (normally the event-loop thread), and no execution
/// context is captured, in the manner of Kestrel's socket awaitables. One waiter at a time.
/// </remarks>
public sealed class Readiness : IValueTaskSource<Errno>
{
    private readonly Lock _lock = new();
    private ManualResetValueTaskSourceCore<Errno> _core;
    private int _tick;
    private bool _waiting;
    private Errno _aborted;

    public int Tick => Volatile.Read(ref _tick);

    /// <summary>Non-zero once the socket was aborted (timeout, cancel); every later wait fails at once with it.</summary>
    public Errno AbortError => (Errno)Volatile.Read(ref Unsafe.As<Errno, int>(ref _aborted));

    public ValueTask<Errno> WaitAsync(int observedTick)
    {
        lock (_lock)
        {
            if (_aborted != Errno.None)
            {
                return new ValueTask<Errno>(_aborted);
            }

            if (_tick != observedTick)
            {
                return new ValueTask<Errno>(Errno.None);
            }

            if (_waiting)
            {
                throw new InvalidOperationException("Only one operation may wait for this readiness at a time.");
            }

            _core.Reset();
            _waiting = true;
            return new ValueTask<Errno>(this, _core.Version);
        }
    }

    public void Signal()
    {
        bool wake;
        lock (_lock)
        {
            _tick++;
            wake = _waiting;
            _waiting = false;
        }

        if (wake)
        {
            _core.SetResult(Errno.None);
        }
    }

    public void Abort(Errno error)
    {
        bool wake;
        Errno result;
        lock (_lock)
        {
            if (_aborted == Errno.None)
            {
                _aborted = error;
            }

            result = _aborted;
            _tick++;
            wake = _waiting;
            _waiting = false;
        }

        if (wake)
        {
            _core.SetResult(result);
        }
    }

    Errno IValueTaskSource<Errno>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<Errno>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<Errno>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
