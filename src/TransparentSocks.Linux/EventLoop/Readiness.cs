using System.Threading.Tasks.Sources;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.EventLoop;

/// <summary>
/// One direction (readable or writable) of an edge-triggered epoll registration, as a reusable awaitable.
/// </summary>
/// <remarks>
/// The caller snapshots <see cref="Tick"/>, tries the system call, and on EAGAIN waits with that snapshot.
/// An event that arrived between the snapshot and the wait has moved the tick on, so the wait completes at once
/// and the caller retries: no wakeup is lost.
/// <para>
/// No lock is taken. The tick and the "a waiter is parked" flag share one word, so parking (tick unchanged, flag
/// set) and signalling (tick moved, flag cleared) are single compare-and-swaps that cannot interleave: a signal
/// either lands before the park, whose swap then fails and the wait completes at once, or after it, and then
/// it sees the flag and completes the waiter. Exactly one signaller sees the flag, so a wait is completed once.
/// </para>
/// Continuations run inline on the thread that signals (normally the event-loop thread), and no execution
/// context or scheduling context is captured, in the manner of Kestrel's socket awaitables. One waiter at a time.
/// <para>
/// Its own completion rather than a <see cref="ManualResetValueTaskSourceCore{TResult}"/>: every socket holds one of
/// these for each direction for its whole life, and the core's execution context, scheduling context, error and
/// version fields, which this use never needs, made it 72 bytes instead of 40.
/// </para>
/// </remarks>
public sealed class Readiness : IValueTaskSource<Errno>
{
    // Bit 0 of _state: a waiter is parked. Bits 1-31: the tick. The tick wraps; only equality with a recent
    // snapshot is ever asked of it.
    private const int Parked = 1;
    private const int OneTick = 2;

    // In _continuation once the parked wait has completed, so a continuation that comes after it runs at once.
    private static readonly Action<object?> Completed = static _ => throw new InvalidOperationException("The completed marker never runs.");

    private Action<object?>? _continuation;
    private object? _continuationState;
    private int _state;
    private int _aborted;

    public Readiness()
    {
    }

    /// <summary>Born aborted with <paramref name="abortedWith"/> (a direction created after its socket was aborted).</summary>
    internal Readiness(Errno abortedWith) => _aborted = (int)abortedWith;

    public int Tick => (int)((uint)Volatile.Read(ref _state) >> 1);

    /// <summary>Non-zero once the socket was aborted (timeout, cancel); every later wait fails at once with it.</summary>
    public Errno AbortError => (Errno)Volatile.Read(ref _aborted);

    public ValueTask<Errno> WaitAsync(int observedTick)
    {
        var idle = observedTick << 1;
        while (true)
        {
            var aborted = AbortError;
            if (aborted != Errno.None)
            {
                return new ValueTask<Errno>(aborted);
            }

            var state = Volatile.Read(ref _state);
            if ((state & ~Parked) != idle)
            {
                // The tick moved since the snapshot. If an Abort moved it after the check above, its error is set
                // before its move (an interlocked write), so reading it again here sees it: the wait must end with
                // the abort, not as a plain wakeup whose retry would find the error only on the next wait.
                return new ValueTask<Errno>(AbortError);
            }

            if ((state & Parked) != 0)
            {
                throw new InvalidOperationException("Only one operation may wait for this readiness at a time.");
            }

            // No signaller touches the completion until the swap below publishes the flag.
            _continuation = null;
            _continuationState = null;
            if (Interlocked.CompareExchange(ref _state, idle | Parked, idle) == idle)
            {
                // An Abort whose tick move comes after this swap sees the flag and completes the wait with its
                // error; one whose move came first made the swap fail, and the next pass returns the error.
                return new ValueTask<Errno>(this, 0);
            }
        }
    }

    /// <summary>
    /// <see cref="WaitAsync"/> for a caller that parks a callback instead of an awaiter, so that no state machine box
    /// is held while it waits (the relay, whose directions wait for hours). False with <paramref name="result"/> when
    /// the wait ended at once; true when <paramref name="callback"/> will run on the signal, and must then take its
    /// result with <see cref="TakeResult"/>. The caller touches nothing the callback uses after a true return: the
    /// callback may already be running.
    /// </summary>
    public bool TryWaitCallback(int observedTick, Action<object?> callback, object state, out Errno result)
    {
        var wait = WaitAsync(observedTick);
        if (wait.IsCompleted)
        {
            result = wait.Result;
            return false;
        }

        result = Errno.None;

        // Completed between the park and here, the callback is queued to the thread pool instead of being lost.
        OnCompleted(callback, state);
        return true;
    }

    /// <summary>The result of the wait a <see cref="TryWaitCallback"/> callback was called for.</summary>
    public Errno TakeResult() => GetResult();

    public void Signal() => MoveTick();

    public void Abort(Errno error)
    {
        _ = Interlocked.CompareExchange(ref _aborted, (int)error, (int)Errno.None);
        MoveTick();
    }

    private void MoveTick()
    {
        var state = Volatile.Read(ref _state);
        while (true)
        {
            var seen = Interlocked.CompareExchange(ref _state, unchecked(state + OneTick) & ~Parked, state);
            if (seen == state)
            {
                break;
            }

            state = seen;
        }

        if ((state & Parked) != 0)
        {
            // Exactly one move clears the flag of one park, so this runs once per wait.
            var continuation = Interlocked.Exchange(ref _continuation, Completed);
            continuation?.Invoke(_continuationState);
        }
    }

    private void OnCompleted(Action<object?> continuation, object? state)
    {
        _continuationState = state;
        if (Interlocked.CompareExchange(ref _continuation, continuation, null) is not null)
        {
            // Completed already. Not inline: an awaiter registers from inside its own state machine's step, which must
            // return before the continuation runs it again.
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: true);
        }
    }

    /// <remarks>
    /// A wait's result is the abort error, read now rather than kept from the moment of the signal (a field fewer):
    /// a wait woken by an event and aborted before it took its result ends with the abort, as its retry would have.
    /// </remarks>
    private Errno GetResult()
    {
        var result = AbortError;

        // The last waiter's continuation would otherwise be kept until the next park. A socket that is not waited on
        // again (an upstream's Writable after its connect) would keep that waiter's state machine box alive for the
        // whole session: the connect's, a fifth of an idle connection's memory.
        _continuationState = null;
        _continuation = null;
        return result;
    }

    Errno IValueTaskSource<Errno>.GetResult(short token) => GetResult();

    ValueTaskSourceStatus IValueTaskSource<Errno>.GetStatus(short token)
        => ReferenceEquals(Volatile.Read(ref _continuation), Completed) ? ValueTaskSourceStatus.Succeeded : ValueTaskSourceStatus.Pending;

    void IValueTaskSource<Errno>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => OnCompleted(continuation, state);
}
