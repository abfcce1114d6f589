using TransparentSocks.Engine.Logging;

namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// A listening socket and the accept loop every TCP inbound shares: accept, count, hand to the pipeline, and back
/// off when out of descriptors. Stopping aborts the pending accept, waits for the loop and closes the socket.
/// </summary>
internal sealed class Listener
{
    // Out of descriptors the listener stays readable; without a pause the loop would spin and flood the log. The
    // pause doubles while the shortage lasts, so a long one costs a few wake-ups a second, not a hundred.
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    // A shortage ends after this long without one, so a flood that frees and refills the budget is one episode.
    private const long QuietMs = 1000;

    private readonly LinuxSocket _socket;
    private readonly Task _loop;
    private volatile bool _stopping;

    private readonly bool _ownLoop;

    private Listener(LinuxSocket socket, IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger, bool ownLoop)
    {
        _socket = socket;
        _ownLoop = ownLoop;
        EndPoint = socket.GetLocalEndPoint() ?? new IPEndPoint(IPAddress.Any, 0);
        _loop = AcceptAsync(inbound, pipeline, tracker, logger);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts accepting on a bound, listening <paramref name="socket"/>, which the listener now owns.</summary>
    /// <param name="ownLoop">Accepted connections stay on the listener's loop: one of a SO_REUSEPORT set with a listener
    /// per loop, where the kernel spreads the connections and each is then served by one thread from accept to close.</param>
    public static Listener Start(LinuxSocket socket, IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger, bool ownLoop = false)
        => new(socket, inbound, pipeline, tracker, logger, ownLoop);

    private async Task AcceptAsync(IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger)
    {
        var shortage = new Shortage();
        while (!_stopping)
        {
            // Known to be full: leave new connections in the backlog, where they wait for room instead of being cut.
            if (!FdBudget.HasRoom(FdBudget.PerConnection))
            {
                await shortage.WaitAsync(logger, EndPoint, BudgetFull(), heldBack: true).ConfigureAwait(false);
                continue;
            }

            var accepted = await _socket.AcceptAsync().ConfigureAwait(false);
            if (accepted.Fd < 0)
            {
                if (_stopping || accepted.Error == Errno.ECANCELED)
                {
                    return;
                }

                if (accepted.Error is Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM)
                {
                    await shortage.WaitAsync(logger, EndPoint, accepted.Error.Describe(), heldBack: true).ConfigureAwait(false);
                }
                else
                {
                    Log.AcceptFailed(logger, EndPoint, accepted.Error.Describe());
                }

                continue;
            }

            inbound.Profile.Stats.ConnectionAccepted();
            var client = LinuxSocket.Adopt(accepted.Fd, _ownLoop ? _socket.Loop : pipeline.NextLoop(), alreadyNonBlocking: true);

            // The room went while accept was parked: this one cannot be served, and a reset tells it so at once.
            if (!FdBudget.HasRoom(FdBudget.PerConnection - 1))
            {
                inbound.Profile.Stats.ConnectionRejected();
                client.Close(reset: true);
                await shortage.WaitAsync(logger, EndPoint, BudgetFull(), heldBack: false).ConfigureAwait(false);
                continue;
            }

            shortage.End(logger, EndPoint);
            pipeline.Start(inbound, client, accepted.Remote!, tracker);
        }
    }

    private static string BudgetFull()
        => $"descriptor budget full, {FdBudget.Open} of {FdBudget.Ceiling} held by connections; the last {FdBudget.Reserve} of RLIMIT_NOFILE {FdBudget.Limit} are kept free so the process never meets EMFILE";

    /// <summary>
    /// One episode of running out of descriptors: logged when it starts and when an accept succeeds after a quiet
    /// second, counted in between. The back-off grows across the whole episode.
    /// </summary>
    private sealed class Shortage
    {
        private long _startedMs;
        private long _lastMs;
        private TimeSpan _backoff;
        private string _error = "";
        private int _heldBack;
        private int _closed;

        public async Task WaitAsync(ILogger logger, IPEndPoint endPoint, string error, bool heldBack)
        {
            if (_startedMs == 0)
            {
                _startedMs = Environment.TickCount64;
                _backoff = FirstBackoff;
                _error = error;
                Log.AcceptPaused(logger, endPoint, error);
            }

            _lastMs = Environment.TickCount64;
            if (heldBack)
            {
                _heldBack++;
            }
            else
            {
                _closed++;
            }

            await Task.Delay(_backoff).ConfigureAwait(false);
            _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, MaxBackoff.Ticks));
        }

        public void End(ILogger logger, IPEndPoint endPoint)
        {
            if (_startedMs == 0 || Environment.TickCount64 - _lastMs < QuietMs)
            {
                return;
            }

            Log.AcceptResumed(logger, endPoint, _lastMs - _startedMs, _error, _heldBack, _closed);
            _startedMs = 0;
            _heldBack = 0;
            _closed = 0;
        }
    }

    public async Task StopAsync()
    {
        _stopping = true;
        _socket.Abort(Errno.ECANCELED);
        await _loop.ConfigureAwait(false);
        _socket.Dispose();
    }
}
