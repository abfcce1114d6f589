using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

/// <summary>
/// Idle upstream connections that have already done TCP connect, greeting and authentication, so a dial only
/// pays for CONNECT. SOCKS5 lets a connection wait between authentication and request.
/// </summary>
/// <remarks>
/// One background pump keeps the pool topped up: it wakes when a connection is taken, when an open finishes,
/// when the oldest idle connection expires and when a retry delay ends. Opens run a few at a time once the
/// upstream has proved healthy, one at a time with growing delays after a failure, and stop altogether after
/// <see cref="MaxConsecutiveFailures"/> failures until a dial reaches the upstream again: while the upstream is
/// down, dials fail on their own and the pool must not add traffic to a server that keeps refusing it.
/// </remarks>
internal sealed class UpstreamPool : IAsyncDisposable, IDisposable
{
    private const int MaxOpensInFlight = 4;
    private const int MaxConsecutiveFailures = 6;
    private const long FirstRetryDelayMs = 250;

    private readonly Func<Loop, CancellationToken, ValueTask<DialResult>> _open;
    private readonly int _capacity;
    private readonly long _idleTimeoutMs;
    private readonly DialerStats _stats;
    private readonly TimeProvider _time;
    private readonly long _ticksPerMs;
    private readonly Lock _lock = new();

    // Oldest first: expiry trims the front, takes pop the back.
    private readonly List<IdleConnection> _idle = [];

    // Neither needs disposing (no timer, no wait handle), and not disposing them keeps late Wake() calls and
    // token registrations from racing a disposal.
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);

    // Touched only by the pump.
    private readonly List<Task> _opens = [];

    private EventLoopGroup? _loops;
    private Loop? _loop;
    private Task? _pump;
    private int _wakePending;
    private int _inFlight;
    private bool _healthy;
    private int _failures;
    private long _retryAtMs;
    private bool _disposed;

    /// <param name="open">Connects and authenticates; the returned socket may still carry the handshake deadline.</param>
    /// <param name="time">The clock for expiry and back-off; tests pass a fake one to move it on.</param>
    public UpstreamPool(Func<Loop, CancellationToken, ValueTask<DialResult>> open, int capacity, TimeSpan idleTimeout, DialerStats stats, TimeProvider? time = null)
    {
        _open = open;
        _capacity = capacity;
        _idleTimeoutMs = (long)idleTimeout.TotalMilliseconds;
        _stats = stats;
        _time = time ?? TimeProvider.System;
        _ticksPerMs = Math.Max(_time.TimestampFrequency / 1000, 1);
    }

    private long NowMs => _time.GetTimestamp() / _ticksPerMs;

    public bool IsStarted => Volatile.Read(ref _pump) is not null;

    /// <summary>The pump, for tests that check a disposed pool left nothing running.</summary>
    internal Task? Pump => Volatile.Read(ref _pump);

    /// <summary>Starts filling. Pooled sockets go round-robin over <paramref name="loops"/>, or all on <paramref name="loop"/>.</summary>
    public void Start(EventLoopGroup? loops, Loop? loop)
    {
        lock (_lock)
        {
            if (_disposed || _pump is not null)
            {
                return;
            }

            _loops = loops;
            _loop = loop;
            _pump = Task.Run(RunAsync);
        }
    }

    /// <summary>Takes the most recently opened live connection; dead and expired ones met on the way are closed.</summary>
    public bool TryTake(out LinuxSocket socket, out IPEndPoint remote)
    {
        var discarded = 0;
        try
        {
            while (true)
            {
                IdleConnection candidate;
                lock (_lock)
                {
                    if (_idle.Count == 0)
                    {
                        socket = null!;
                        remote = null!;
                        return false;
                    }

                    candidate = _idle[^1];
                    _idle.RemoveAt(_idle.Count - 1);
                    _stats.SetPooledIdle(_idle.Count);
                }

                if (candidate.ExpiresAtMs > NowMs && IsAlive(candidate.Socket))
                {
                    socket = candidate.Socket;
                    remote = candidate.Remote;
                    return true;
                }

                candidate.Socket.Dispose();
                discarded++;
            }
        }
        finally
        {
            if (discarded > 0)
            {
                _stats.PoolDiscard(discarded);
            }

            Wake();
        }
    }

    /// <summary>The upstream was marked down: its idle connections are closed; refills resume as it answers again.</summary>
    public void Drain()
    {
        IdleConnection[] idle;
        lock (_lock)
        {
            idle = [.. _idle];
            _idle.Clear();
            _stats.SetPooledIdle(0);
        }

        foreach (var connection in idle)
        {
            connection.Socket.Dispose();
        }

        if (idle.Length > 0)
        {
            _stats.PoolDiscard(idle.Length);
        }
    }

    /// <summary>A dial just reached the upstream on its own: the pool may stop backing off.</summary>
    public void UpstreamReachable()
    {
        if (Volatile.Read(ref _failures) == 0)
        {
            return;
        }

        lock (_lock)
        {
            _failures = 0;
            _retryAtMs = 0;
        }

        Wake();
    }

    /// <summary>
    /// Stops refilling and closes the idle connections. Opens still in flight are aborted and close their own
    /// sockets when they finish; <see cref="DisposeAsync"/> also waits for that.
    /// </summary>
    public void Dispose()
    {
        IdleConnection[] idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
            _stats.SetPooledIdle(0);
        }

        _stop.Cancel();
        foreach (var connection in idle)
        {
            connection.Socket.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Dispose();
        if (Pump is { } pump)
        {
            await pump.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// EAGAIN from a non-blocking read is the only healthy answer for a connection nobody has spoken on since
    /// authentication: EOF or an error means the upstream dropped it, and a byte is data it sent unasked, which
    /// makes the connection unusable all the same, so reading (rather than peeking) loses nothing.
    /// </summary>
    private static bool IsAlive(LinuxSocket socket)
    {
        if (socket.IsAborted)
        {
            return false;
        }

        Span<byte> probe = stackalloc byte[1];
        return socket.TryReceive(probe).Error == Errno.EAGAIN;
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            _wake.Release();
        }
    }

    private async Task RunAsync()
    {
        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                // Cleared before the state is read, so a wake that lands during this pass makes the next wait return at once.
                Volatile.Write(ref _wakePending, 0);
                var now = NowMs;
                RetireExpired(now);
                _opens.RemoveAll(static t => t.IsCompleted);

                var toStart = 0;
                var wakeAtMs = long.MaxValue;
                lock (_lock)
                {
                    if (_disposed)
                    {
                        break;
                    }

                    var missing = _capacity - _idle.Count - _inFlight;
                    if (_healthy)
                    {
                        toStart = Math.Min(missing, MaxOpensInFlight - _inFlight);
                    }
                    else if (_failures < MaxConsecutiveFailures && _inFlight == 0)
                    {
                        if (now >= _retryAtMs)
                        {
                            toStart = Math.Min(missing, 1);
                        }
                        else
                        {
                            wakeAtMs = _retryAtMs;
                        }
                    }

                    toStart = Math.Max(toStart, 0);
                    _inFlight += toStart;
                    if (_idle.Count > 0)
                    {
                        wakeAtMs = Math.Min(wakeAtMs, _idle[0].ExpiresAtMs);
                    }
                }

                for (var i = 0; i < toStart; i++)
                {
                    _opens.Add(OpenOneAsync(stop));
                }

                await WaitAsync(wakeAtMs == long.MaxValue ? null : TimeSpan.FromMilliseconds(Math.Clamp(wakeAtMs - now, 1, int.MaxValue)), stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposed.
        }

        await Task.WhenAll(_opens).ConfigureAwait(false);
    }

    /// <summary>Until a <see cref="Wake"/> or <paramref name="delay"/> on the pool's clock, whichever comes first.</summary>
    private async Task WaitAsync(TimeSpan? delay, CancellationToken stop)
    {
        if (delay is null)
        {
            await _wake.WaitAsync(stop).ConfigureAwait(false);
            return;
        }

        // The pump passes here only when something is due, so two token sources per pass cost nothing that matters.
        using var timeout = new CancellationTokenSource(delay.Value, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token);
        try
        {
            await _wake.WaitAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            // The delay ran out.
        }
    }

    private void RetireExpired(long now)
    {
        List<LinuxSocket>? expired = null;
        lock (_lock)
        {
            var n = 0;
            while (n < _idle.Count && _idle[n].ExpiresAtMs <= now)
            {
                (expired ??= []).Add(_idle[n].Socket);
                n++;
            }

            if (n == 0)
            {
                return;
            }

            _idle.RemoveRange(0, n);
            _stats.SetPooledIdle(_idle.Count);
        }

        foreach (var socket in expired!)
        {
            socket.Dispose();
        }

        _stats.PoolDiscard(expired.Count);
    }

    private async Task OpenOneAsync(CancellationToken stop)
    {
        _stats.PoolOpenStarted();
        DialResult result;
        try
        {
            result = await _open(_loops?.Next() ?? _loop!, stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            result = DialResult.Fail(DialError.Other, "pool closed");
        }
        catch (Exception ex) when (ex is InvalidOperationException or SocketException)
        {
            // A loop that is shutting down refuses registrations; count it as a failed open, never crash the pump.
            result = DialResult.Fail(DialError.ResourceExhausted, ex.Message);
        }

        if (result.Socket is { } opened)
        {
            // The deadline guarded the handshake; an idle pooled connection has none until a dial arms its own.
            opened.DeadlineMs = 0;
        }

        LinuxSocket? unwanted = null;
        lock (_lock)
        {
            _inFlight--;
            if (result.Socket is { } socket)
            {
                _healthy = true;
                _failures = 0;
                if (_disposed || _idle.Count >= _capacity)
                {
                    unwanted = socket;
                }
                else
                {
                    _idle.Add(new IdleConnection(socket, result.Remote!, NowMs + _idleTimeoutMs));
                    _stats.SetPooledIdle(_idle.Count);
                }
            }
            else if (!_disposed)
            {
                _healthy = false;
                _failures++;
                _retryAtMs = NowMs + (FirstRetryDelayMs << Math.Min(_failures - 1, MaxConsecutiveFailures));
            }
        }

        if (!result.Succeeded && !stop.IsCancellationRequested)
        {
            _stats.PoolOpenFailed();
        }

        unwanted?.Dispose();
        Wake();
    }

    private readonly record struct IdleConnection(LinuxSocket Socket, IPEndPoint Remote, long ExpiresAtMs);
}
