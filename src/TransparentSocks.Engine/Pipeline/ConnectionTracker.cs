namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// How many connections are still running, so that a stop can wait for them (and abort them after the drain
/// time).
/// </summary>
/// <remarks>
/// A count that each connection enters and exits, rather than a set of tasks: an idle connection is held by no task
/// at all (see <see cref="ConnectionPipeline.Start"/>), and a set with a ContinueWith per task held an entry, a
/// continuation task and its wrapper for as long as the connection lived, about 150 bytes of every idle connection.
/// </remarks>
internal sealed class ConnectionTracker
{
    private readonly Lock _lock = new();
    private int _pending;
    private TaskCompletionSource? _drained;

    /// <summary>Connections entered and not yet exited.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>A connection began; it calls <see cref="Exit"/> once when it has ended.</summary>
    public void Enter() => Interlocked.Increment(ref _pending);

    public void Exit()
    {
        if (Interlocked.Decrement(ref _pending) != 0)
        {
            return;
        }

        TaskCompletionSource? drained;
        lock (_lock)
        {
            drained = _drained;
        }

        drained?.TrySetResult();
    }

    /// <summary>A task that completes once no connection is left (at once when none is).</summary>
    public Task WhenDrained()
    {
        lock (_lock)
        {
            if (_drained is null || _drained.Task.IsCompleted)
            {
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            // Read after publishing: a last connection that ended just before sees no source, so it is checked here.
            if (Pending == 0)
            {
                _drained.TrySetResult();
            }

            return _drained.Task;
        }
    }

    /// <summary>Waits for the pending connections; after <paramref name="drain"/> calls <paramref name="abort"/> and waits a little more.</summary>
    public async Task DrainAsync(TimeSpan drain, Action abort)
    {
        if (Pending == 0)
        {
            return;
        }

        var all = WhenDrained();
        if (await Task.WhenAny(all, Task.Delay(drain)).ConfigureAwait(false) != all)
        {
            abort();
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
    }
}
