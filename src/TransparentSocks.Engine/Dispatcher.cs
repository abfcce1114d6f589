using Microsoft.Extensions.Logging;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.Relay;

namespace TransparentSocks.Engine;

/// <summary>How an inbound tells its client what became of the dial (a SOCKS5 reply, or nothing under TPROXY).</summary>
public interface IInboundReply
{
    /// <summary>Returns false when the client is gone and the session should end.</summary>
    ValueTask<bool> ReplyAsync(Session session, DialResult result);
}

/// <summary>
/// Where inbound, dialer, relay and statistics meet: every connection of every inbound passes through
/// <see cref="RunAsync"/> once its destination is known.
/// </summary>
public sealed class Dispatcher
{
    private readonly ILogger _logger;

    public Dispatcher(ILogger logger)
    {
        _logger = logger;
    }

    /// <summary>Dials, replies, relays and accounts for one session. The caller owns and closes the client socket.</summary>
    public async Task RunAsync(Session session, IDialer dialer, DestinationPolicy? policy, IInboundReply reply, ReadOnlyMemory<byte> earlyData, RelaySettings relay)
    {
        session.State = SessionState.Connecting;
        session.Upstream = dialer.Name;
        var dial = await dialer.DialAsync(new DialRequest(session.Destination, session.ClientSocket.Loop, policy)).ConfigureAwait(false);
        if (!dial.Succeeded)
        {
            session.Stats.DialFailed(dial.Error);
            Log.DialFailed(_logger, session.Id, session.ClientEndPoint, session.Destination, dialer.Name, dial.ToString());
            await reply.ReplyAsync(session, dial).ConfigureAwait(false);
            return;
        }

        var outbound = dial.Socket!;
        session.OutboundSocket = outbound;
        try
        {
            if (!await reply.ReplyAsync(session, dial).ConfigureAwait(false))
            {
                return;
            }

            if (!earlyData.IsEmpty && (await outbound.SendAsync(earlyData).ConfigureAwait(false)).HasError)
            {
                return;
            }

            session.State = SessionState.Established;
            Log.SessionConnected(_logger, session.Id, session.ClientEndPoint, session.Destination, dialer.Name);
            var result = await SocketRelay.RunAsync(session.ClientSocket, outbound, relay, session.Counters).ConfigureAwait(false);
            Log.SessionClosed(_logger, session.Id, result.ToString());
            if (result.Outcome == RelayOutcome.UpstreamError)
            {
                // The destination went away mid-stream: the client was reset, so close it without a FIN.
                _ = session.ClientSocket.SetLingerZero();
            }
        }
        finally
        {
            session.OutboundSocket = null;
            outbound.Dispose();
        }
    }
}
