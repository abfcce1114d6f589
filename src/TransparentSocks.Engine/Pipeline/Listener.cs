using TransparentSocks.Engine.Logging;

namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// A listening socket and the accept loop every TCP inbound shares: accept, count, hand to the pipeline, and back
/// off when out of descriptors. Stopping aborts the pending accept, waits for the loop and closes the socket.
/// </summary>
internal sealed class Listener
{
    // Out of descriptors the listener stays readable; without a pause the loop would spin and flood the log.
    private static readonly TimeSpan ExhaustedBackoff = TimeSpan.FromMilliseconds(100);

    private readonly LinuxSocket _socket;
    private readonly Task _loop;
    private volatile bool _stopping;

    private Listener(LinuxSocket socket, IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger)
    {
        _socket = socket;
        EndPoint = socket.GetLocalEndPoint() ?? new IPEndPoint(IPAddress.Any, 0);
        _loop = AcceptAsync(inbound, pipeline, tracker, logger);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts accepting on a bound, listening <paramref name="socket"/>, which the listener now owns.</summary>
    public static Listener Start(LinuxSocket socket, IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger)
        => new(socket, inbound, pipeline, tracker, logger);

    private async Task AcceptAsync(IInbound inbound, ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger)
    {
        while (!_stopping)
        {
            var accepted = await _socket.AcceptAsync().ConfigureAwait(false);
            if (accepted.Fd < 0)
            {
                if (_stopping || accepted.Error == Errno.ECANCELED)
                {
                    return;
                }

                Log.AcceptFailed(logger, EndPoint, accepted.Error.Describe());
                if (accepted.Error is Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM)
                {
                    await Task.Delay(ExhaustedBackoff).ConfigureAwait(false);
                }

                continue;
            }

            inbound.Profile.Stats.ConnectionAccepted();
            tracker.Track(pipeline.RunAsync(inbound, accepted.Fd, accepted.Remote!));
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
