using System.Diagnostics;
using System.Net;
using TransparentSocks.Socks;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>One connection of a <see cref="ConnectionStream"/>, with times on the stream's clock.</summary>
/// <param name="Error">Why the connection broke without a reply or a line from the target; null otherwise.</param>
internal sealed record StreamAttempt(TimeSpan Started, TimeSpan Waited, Socks5ReplyCode? Reply, IPAddress? Via, string? Error)
{
    public TimeSpan Answered => Started + Waited;

    public bool Succeeded => Reply == Socks5ReplyCode.Succeeded && Via is not null;
}

/// <summary>
/// New connections through the server one after another, each closed after the target's line, until stopped or
/// bounded by a count and a duration, whichever comes first. Failover is watched on it while upstreams die and return.
/// </summary>
internal sealed class ConnectionStream : IAsyncDisposable
{
    private readonly IPEndPoint _server;
    private readonly IPEndPoint _target;
    private readonly int _maxConnections;
    private readonly TimeSpan _maxDuration;
    private readonly TimeSpan _pause;
    private readonly Stopwatch _clock = new();
    private readonly Lock _lock = new();
    private readonly List<StreamAttempt> _attempts = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public ConnectionStream(IPEndPoint server, IPEndPoint target, int maxConnections, TimeSpan maxDuration, TimeSpan pause)
    {
        _server = server;
        _target = target;
        _maxConnections = maxConnections;
        _maxDuration = maxDuration;
        _pause = pause;
    }

    /// <summary>The stream's clock; attempts' times are on it.</summary>
    public TimeSpan Now => _clock.Elapsed;

    public IReadOnlyList<StreamAttempt> Attempts
    {
        get
        {
            lock (_lock)
            {
                return [.. _attempts];
            }
        }
    }

    public void Start()
    {
        _clock.Start();
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Polls until <paramref name="condition"/> holds over the attempts so far. False on timeout or when the stream ended.</summary>
    public async Task<bool> WaitUntilAsync(Func<IReadOnlyList<StreamAttempt>, bool> condition, TimeSpan timeout)
    {
        var deadline = Now + timeout;
        while (true)
        {
            if (condition(Attempts))
            {
                return true;
            }

            if (Now >= deadline || _loop.IsCompleted)
            {
                return condition(Attempts);
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Stops the stream and returns every attempt.</summary>
    public async Task<IReadOnlyList<StreamAttempt>> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        return Attempts;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        for (var count = 0; count < _maxConnections && _clock.Elapsed < _maxDuration && !_stop.IsCancellationRequested; count++)
        {
            var started = _clock.Elapsed;
            StreamAttempt attempt;
            try
            {
                using var hop = await ServerClient.ConnectAsync(_server, _target);
                attempt = new StreamAttempt(started, hop.Waited, hop.Reply, hop.Via, null);
            }
            catch (Exception ex)
            {
                attempt = new StreamAttempt(started, _clock.Elapsed - started, null, null, $"{ex.GetType().Name}: {ex.Message}");
            }

            lock (_lock)
            {
                _attempts.Add(attempt);
            }

            try
            {
                await Task.Delay(_pause, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
