namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// Connection tasks still running, so that a stop can wait for them (and abort them after the drain time).
/// </summary>
internal sealed class ConnectionTracker
{
    private readonly Lock _lock = new();
    private readonly HashSet<Task> _tasks = [];

    public Task[] Pending
    {
        get
        {
            lock (_lock)
            {
                return [.. _tasks];
            }
        }
    }

    public void Track(Task task)
    {
        if (task.IsCompleted)
        {
            return;
        }

        lock (_lock)
        {
            _tasks.Add(task);
        }

        _ = task.ContinueWith(
            static (t, state) =>
            {
                var self = (ConnectionTracker)state!;
                lock (self._lock)
                {
                    self._tasks.Remove(t);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Waits for the pending connections; after <paramref name="drain"/> calls <paramref name="abort"/> and waits a little more.</summary>
    public async Task DrainAsync(TimeSpan drain, Action abort)
    {
        var pending = Pending;
        if (pending.Length == 0)
        {
            return;
        }

        var all = Task.WhenAll(pending);
        if (await Task.WhenAny(all, Task.Delay(drain)).ConfigureAwait(false) != all)
        {
            abort();
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
    }
}
