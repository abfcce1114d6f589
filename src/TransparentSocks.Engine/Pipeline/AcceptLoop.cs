using System.Net;
using Microsoft.Extensions.Logging;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Pipeline;

/// <summary>The accept loop every TCP inbound shares: accept, count, hand to the pipeline, and back off when out of descriptors.</summary>
internal static class AcceptLoop
{
    public static async Task RunAsync(
        LinuxSocket listener, IPEndPoint endPoint, Func<bool> stopping, IInbound inbound,
        ConnectionPipeline pipeline, ConnectionTracker tracker, ILogger logger)
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

            inbound.Profile.Stats.ConnectionAccepted();
            tracker.Track(pipeline.RunAsync(inbound, accepted.Fd, accepted.Remote!));
        }
    }
}
