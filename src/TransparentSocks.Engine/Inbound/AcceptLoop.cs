using System.Net;
using Microsoft.Extensions.Logging;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Inbound;

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

/// <summary>The accept loop every inbound shares: accept, count, hand off, and back off when out of descriptors.</summary>
internal static class AcceptLoop
{
    public static async Task RunAsync(
        LinuxSocket listener, IPEndPoint endPoint, Func<bool> stopping, InboundStats stats,
        Func<int, IPEndPoint, Task> handle, ConnectionTracker tracker, ILogger logger)
    {
        while (!stopping())
        {
            var accepted = await listener.AcceptAsync().ConfigureAwait(false);
            if (accepted.Fd < 0)
            {
                if (stopping() || accepted.Error == Errno.ECANCELED)
                {
                    return;
                }

                Log.AcceptFailed(logger, endPoint, accepted.Error.Describe());
                if (accepted.Error is Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM)
                {
                    // Out of descriptors: back off instead of spinning on a listener that stays readable.
                    await Task.Delay(100).ConfigureAwait(false);
                }

                continue;
            }

            stats.ConnectionAccepted();
            tracker.Track(handle(accepted.Fd, accepted.Remote!));
        }
    }
}
