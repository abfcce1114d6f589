using System.Runtime.CompilerServices;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;

namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// The life of every TCP connection, whichever inbound accepted it, top to bottom in <see cref="RunAsync"/>:
/// admission, session, request, route, dial, reply, early data, relay, and close (with the one decision about
/// whether the client and the destination see a FIN or a reset).
/// </summary>
public sealed class ConnectionPipeline
{
    private readonly EventLoopGroup _loops;
    private readonly SessionTable _sessions;
    private readonly ILogger _logger;
    private readonly UdpRuntime? _udp;

    public ConnectionPipeline(EventLoopGroup loops, SessionTable sessions, ILogger logger, UdpRuntime? udp = null)
    {
        _loops = loops;
        _sessions = sessions;
        _logger = logger;
        _udp = udp;
    }

    public SessionTable Sessions => _sessions;

    /// <summary>The event loop for a new listener or socket, round-robin.</summary>
    public EventLoop NextLoop() => _loops.Next();

    /// <summary>Every event loop, for an inbound that listens on each of them.</summary>
    public IReadOnlyList<EventLoop> Loops => _loops.Loops;

    /// <summary>How a connection ended, which is all the close needs to know.</summary>
    private enum Ending
    {
        /// <summary>Refused before any byte was read (ACL, a limit, shutdown).</summary>
        Rejected,

        /// <summary>Its handshake was evicted to make room for a newer one (the handshake budget was full).</summary>
        Evicted,

        /// <summary>The inbound could not read a request; it has answered if its protocol can.</summary>
        NoRequest,

        /// <summary>The route refused the destination, or the dial failed; the inbound has answered if it can.</summary>
        DialFailed,

        /// <summary>The client went away while being told the dial's outcome.</summary>
        ClientGone,

        /// <summary>The relay ran; its outcome decides.</summary>
        Relayed,

        /// <summary>A bug: an exception no step expected.</summary>
        Crashed,
    }

    /// <summary>Runs one accepted connection to its end; the task completes when it has. Never throws.</summary>
    /// <remarks>For tests and tools; a listener calls <see cref="Start"/> with its tracker instead of holding a task.</remarks>
    public Task RunAsync(IInbound inbound, int fd, IPEndPoint remote)
    {
        var tracker = new ConnectionTracker();
        Start(inbound, LinuxSocket.Adopt(fd, _loops.Next(), alreadyNonBlocking: true), remote, tracker);
        return tracker.WhenDrained();
    }

    /// <summary>
    /// Runs one accepted connection, already adopted, to its end, and tells <paramref name="tracker"/> when it has
    /// ended. Never throws: input from the network cannot take the daemon down.
    /// </summary>
    /// <remarks>
    /// Nothing waits for the relay: everything before it runs in <see cref="SetUpAsync"/>, a pooled frame given back
    /// once the relay starts, and the relay reports its end to the session (<see cref="Relayed"/>). A frame awaiting
    /// the relay would be held for the whole life of the connection; it was the largest object of an idle one.
    /// </remarks>
    internal void Start(IInbound inbound, LinuxSocket client, IPEndPoint remote, ConnectionTracker tracker)
    {
        tracker.Enter();
        var setUp = SetUpAsync(inbound, inbound.Profile, client, remote);
        if (setUp.IsCompleted)
        {
            StartRelay(setUp.Result, tracker);
            return;
        }

        // A closure per connection, but only while it is set up: it is garbage once the relay runs.
        var awaiter = setUp.ConfigureAwait(false).GetAwaiter();
        awaiter.UnsafeOnCompleted(() => StartRelay(awaiter.GetResult(), tracker));
    }

    /// <summary>The relay of a session that <see cref="SetUpAsync"/> established; the end of one it did not.</summary>
    private void StartRelay(Session? session, ConnectionTracker tracker)
    {
        if (session is null)
        {
            tracker.Exit();
            return;
        }

        session.Pipeline = this;
        session.Tracker = tracker;
        var started = false;
        try
        {
            // Established once its set-up frame is given back, so a session seen established holds only what it
            // keeps. Not after the start: a relay that ends at once closes the session before the start returns.
            session.Settle();
            session.State = SessionState.Established;
            started = true;
            SocketRelay.Start(session.ClientSocket, session.OutboundSocket!, session.Profile.Relay, session.Counters, session);
        }
        catch (Exception ex) when (!started)
        {
            // Once started, the relay owns the end (it may already have reported it); a bug past that point is the
            // event loop's to log, not a second end here.
            Log.SessionCrashed(_logger, session.Id, ex);
            End(session, Ending.Crashed, RelayOutcome.Completed);
        }
    }

    /// <summary>A session's relay has ended (called by the session, on the thread that ended it).</summary>
    internal void Relayed(Session session, in RelayResult relayed)
    {
        var ending = Ending.Crashed;
        try
        {
            Log.SessionClosed(_logger, session.Id, relayed.ToString());
            ending = Ending.Relayed;
        }
        catch (Exception ex)
        {
            Log.SessionCrashed(_logger, session.Id, ex);
        }
        finally
        {
            End(session, ending, relayed.Outcome);
        }
    }

    private static void End(Session session, Ending ending, RelayOutcome outcome)
    {
        var tracker = session.Tracker;
        try
        {
            session.Dispose();
            CountEnd(session.Profile, ending == Ending.Relayed, outcome);
            Close(session.Profile, ending, outcome, session.ClientSocket, session.OutboundSocket, handshake: null, admitted: true);
        }
        finally
        {
            tracker?.Exit();
        }
    }

    /// <summary>
    /// Admission, session, request, route, dial, reply and early data: the session, established, when the relay is
    /// next; null when the connection ended before it (and then it is closed here).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Session?> SetUpAsync(IInbound inbound, InboundProfile profile, LinuxSocket client, IPEndPoint remote)
    {
        var ending = Ending.Crashed;
        var relayed = default(RelayResult);
        var relayEnded = false;
        LinuxSocket? outbound = null;
        var admitted = false;
        Handshake? handshake = null;
        Session? session = null;
        var handedOver = false;
        try
        {
            // Admission: nothing is read from a client that is not let in.
            if (profile.Admission.TryAdmit(remote, profile.Limits, client, out handshake) is { } refusal)
            {
                profile.Stats.ConnectionRejected();
                Log.ConnectionRejected(_logger, remote, $"{profile.Ingress}: {refusal}");
                ending = Ending.Rejected;
                return null;
            }

            admitted = true;
            _ = client.SetNoDelay();
            session = _sessions.Open(profile, client, remote);

            // The request: where the client wants to go, and what it already sent for the destination.
            var buffer = profile.RequestBufferSize > 0 ? session.RentRequestBuffer(profile.RequestBufferSize) : Memory<byte>.Empty;
            var request = await inbound.ReceiveAsync(session, buffer).ConfigureAwait(false);
            if (!profile.Limits.HandshakeIncludesDial || !request.Ok || request.UdpAssociate)
            {
                var completed = profile.Admission.HandshakeDone(handshake!);
                handshake = null;
                if (!completed)
                {
                    ending = Evicted(profile, remote);
                    return null;
                }
            }

            if (!request.Ok)
            {
                ending = Ending.NoRequest;
                return null;
            }

            session.Destination = request.Destination;
            if (request.UdpAssociate)
            {
                ending = await AssociateAsync(inbound, profile, session).ConfigureAwait(false);
                return null;
            }

            // Route and dial: the inbound's route, or the one its request chose (a sniffed name that bypasses the upstream).
            var route = request.Route ?? profile.Route;
            var dialer = route.Dialer;
            session.Upstream = dialer.Name;
            session.State = SessionState.Connecting;
            var dial = await RouteAndDialAsync(route, session).ConfigureAwait(false);
            if (handshake is not null)
            {
                var completed = profile.Admission.HandshakeDone(handshake);
                handshake = null;
                if (!completed)
                {
                    outbound = dial.Socket;
                    ending = Evicted(profile, remote);
                    return null;
                }
            }

            if (!dial.Succeeded)
            {
                session.Stats.DialFailed(dial.Error);
                Log.DialFailed(_logger, session.Id, remote, session.Destination, dialer.Name, dial.ToString());
                await inbound.ReplyAsync(session, dial).ConfigureAwait(false);
                ending = Ending.DialFailed;
                return null;
            }

            outbound = dial.Socket!;
            session.OutboundSocket = outbound;

            // Reply, then the bytes the client sent ahead of it.
            if (!await inbound.ReplyAsync(session, dial).ConfigureAwait(false))
            {
                ending = Ending.ClientGone;
                return null;
            }

            var early = await SendEarlyDataAsync(outbound, request.EarlyData, session.Counters).ConfigureAwait(false);
            if (early != Errno.None)
            {
                // The destination failed before the relay began; to the client that is a stream cut like any other.
                relayed = new RelayResult(RelayOutcome.UpstreamError, early, session.Counters.BytesUp, session.Counters.BytesDown, Spliced: false);
                Log.SessionClosed(_logger, session.Id, relayed.ToString());
                ending = Ending.Relayed;
                relayEnded = true;
                return null;
            }

            // The early data is out, and a relay can last for hours: the request buffer goes back now, not at the close.
            session.ReturnRequestBuffer();
            Log.SessionConnected(_logger, session.Id, remote, session.Destination, dialer.Name);
            handedOver = true;
            return session;
        }
        catch (Exception ex)
        {
            Log.SessionCrashed(_logger, 0, ex);
            ending = Ending.Crashed;
            return null;
        }
        finally
        {
            // Handed to the relay, the session and its sockets are the caller's to close; otherwise the connection ends here.
            if (!handedOver)
            {
                session?.Dispose();
                CountEnd(profile, relayEnded, relayed.Outcome);
                Close(profile, ending, relayed.Outcome, client, outbound, handshake, admitted);
            }
        }
    }

    /// <summary>
    /// A relay's outcome is counted after its session folded its bytes into the inbound's totals, so a reader that
    /// sees the session completed also sees what it moved.
    /// </summary>
    private static void CountEnd(InboundProfile profile, bool relayEnded, RelayOutcome outcome)
    {
        if (relayEnded)
        {
            profile.Stats.RelayEnded(outcome);
        }
    }

    /// <summary>The end of every connection: the sockets closed with a FIN or a reset, and its admission given back.</summary>
    private static void Close(InboundProfile profile, Ending ending, RelayOutcome outcome, LinuxSocket client, LinuxSocket? outbound, Handshake? handshake, bool admitted)
    {
        var (resetClient, resetOutbound) = ResetPolicy(ending, outcome, profile.RepliesInBand);
        outbound?.Close(resetOutbound);
        client.Close(resetClient);
        if (handshake is not null)
        {
            _ = profile.Admission.HandshakeDone(handshake);
        }

        if (admitted)
        {
            profile.Admission.ConnectionClosed();
        }
    }

    /// <summary>
    /// The one place that decides between FIN and RST. A reset says "this stream was cut"; a FIN says "this is all
    /// of it", so a FIN after a failure would make a truncated download look complete.
    /// </summary>
    private static (bool Client, bool Outbound) ResetPolicy(Ending ending, RelayOutcome outcome, bool repliesInBand) => ending switch
    {
        Ending.Rejected or Ending.Evicted or Ending.Crashed => (true, true),

        // A SOCKS5 client has its reply code; a transparent client has no other way to learn of the failure.
        Ending.NoRequest or Ending.DialFailed => (!repliesInBand, false),
        Ending.ClientGone => (false, true),
        _ => outcome switch
        {
            RelayOutcome.UpstreamError => (true, false),
            RelayOutcome.ClientError => (false, true),

            // Stopped from outside (the drain ran out): neither side got all of its stream.
            RelayOutcome.Aborted => (true, true),
            _ => (false, false),
        },
    };

    /// <summary>
    /// The early data, counted as the kernel takes it: a destination that fails part-way has still received what
    /// went before, and the counters say exactly that.
    /// </summary>
    private static async ValueTask<Errno> SendEarlyDataAsync(LinuxSocket outbound, ReadOnlyMemory<byte> data, RelayCounters counters)
    {
        while (!data.IsEmpty)
        {
            var tick = outbound.WritableTick;
            var sent = outbound.TrySend(data.Span);
            if (!sent.HasError)
            {
                counters.AddUp(sent.Bytes);
                data = data[sent.Bytes..];
                continue;
            }

            if (sent.Error == Errno.EINTR)
            {
                continue;
            }

            if (sent.Error != Errno.EAGAIN)
            {
                return sent.Error;
            }

            if (tick == LinuxSocket.NoTick)
            {
                outbound.EnsureWritable();
                continue;
            }

            var waited = await outbound.Writable.WaitAsync(tick).ConfigureAwait(false);
            if (waited != Errno.None)
            {
                return waited;
            }
        }

        return Errno.None;
    }

    private Ending Evicted(InboundProfile profile, IPEndPoint remote)
    {
        profile.Stats.HandshakeEvicted();
        Log.ConnectionRejected(_logger, remote, $"{profile.Ingress}: handshake evicted, maxHandshakes ({profile.Limits.MaxHandshakes}) full");
        return Ending.Evicted;
    }

    /// <summary>
    /// The route step: the destination policy is applied once, to the addresses that will be connected to where the
    /// name is resolved here, and to the name itself where an upstream resolves it.
    /// </summary>
    private static ValueTask<DialResult> RouteAndDialAsync(Route route, Session session)
    {
        // Not async unless a name is resolved here: a frame that suspends costs a box on every connection.
        var destination = session.Destination;
        if (destination.IsDomain && route.Dialer.ResolvesLocally)
        {
            return ResolveAndDialAsync(route, session);
        }

        var denied = destination.IsDomain
            ? route.Policy.IsDeniedName(destination.Host, destination.Port)
            : route.Policy.IsDenied(destination.Address, destination.Port);
        return denied
            ? ValueTask.FromResult(Refused(route, DialResult.Fail(DialError.Denied, $"{destination} is not allowed")))
            : route.Dialer.DialAsync(new DialRequest(destination, session.ClientSocket.Loop, null, session.ClientEndPoint.Address));
    }

    private static async ValueTask<DialResult> ResolveAndDialAsync(Route route, Session session)
    {
        var destination = session.Destination;
        var policy = route.Policy;
        var (resolved, failure) = await Connector.ResolveAsync(destination, route.ResolveTimeout, CancellationToken.None).ConfigureAwait(false);
        if (resolved.Length == 0)
        {
            return Refused(route, failure);
        }

        var addresses = Array.FindAll(resolved, a => !policy.IsDenied(a, destination.Port));
        if (addresses.Length == 0)
        {
            return Refused(route, DialResult.Fail(DialError.Denied, $"{destination} resolves only to denied addresses"));
        }

        return await route.Dialer.DialAsync(new DialRequest(destination, session.ClientSocket.Loop, addresses, session.ClientEndPoint.Address)).ConfigureAwait(false);
    }

    /// <summary>
    /// A UDP ASSOCIATE: the outbound leg from the route's dialer (direct, or the upstream's own association), a relay
    /// socket for the client, the reply naming it, then the TCP connection held until it or the association ends.
    /// </summary>
    private async Task<Ending> AssociateAsync(IInbound inbound, InboundProfile profile, Session session)
    {
        var udpInbound = inbound as IUdpInbound;
        var limits = profile.Udp;
        var stats = profile.Stats.Udp;
        if (udpInbound is null || limits is null || _udp is null)
        {
            // Only a UDP-capable inbound asks, and only with UDP on; a pipeline built without UDP still answers.
            if (udpInbound is not null)
            {
                await udpInbound.ReplyAssociatedAsync(session, Socks.Socks5ReplyCode.CommandNotSupported, null).ConfigureAwait(false);
            }

            return Ending.NoRequest;
        }

        var dialer = profile.Route.Dialer;
        session.Upstream = dialer.Name;
        session.State = SessionState.Connecting;
        if (limits.MaxAssociations > 0 && stats.Active >= limits.MaxAssociations)
        {
            Log.DialFailed(_logger, session.Id, session.ClientEndPoint, session.Destination, dialer.Name, $"UDP ASSOCIATE refused: {limits.MaxAssociations} associations are open");
            await udpInbound.ReplyAssociatedAsync(session, Socks.Socks5ReplyCode.GeneralFailure, null).ConfigureAwait(false);
            return Ending.DialFailed;
        }

        var opened = await dialer.AssociateAsync(_udp, stats).ConfigureAwait(false);
        if (!opened.Succeeded)
        {
            session.Stats.DialFailed(opened.Error);
            Log.DialFailed(_logger, session.Id, session.ClientEndPoint, session.Destination, dialer.Name, $"UDP ASSOCIATE: {opened}");
            await udpInbound.ReplyAssociatedAsync(session, opened.Error.ToReplyCode(), null).ConfigureAwait(false);
            return Ending.DialFailed;
        }

        var local = session.ClientSocket.GetLocalEndPoint() ?? new IPEndPoint(IPAddress.Any, 0);
        var error = ServerUdpAssociation.TryOpen(
            _udp, opened.Association!, session.ClientSocket, local, session.ClientEndPoint, session.Destination, profile.Route, limits.Timeout, stats, _logger,
            out var association);
        if (error != Errno.None)
        {
            Log.DialFailed(_logger, session.Id, session.ClientEndPoint, session.Destination, dialer.Name, $"UDP ASSOCIATE: relay socket: {error.Describe()}");
            await udpInbound.ReplyAssociatedAsync(session, Socks.Socks5ReplyCode.GeneralFailure, null).ConfigureAwait(false);
            return Ending.DialFailed;
        }

        if (!await udpInbound.ReplyAssociatedAsync(session, Socks.Socks5ReplyCode.Succeeded, association!.RelayEndPoint).ConfigureAwait(false))
        {
            session.ClientSocket.Abort(Errno.ECANCELED);
            await association.RunAsync().ConfigureAwait(false);
            return Ending.ClientGone;
        }

        session.State = SessionState.Established;
        Log.UdpAssociationOpened(_logger, profile.Ingress, session.ClientEndPoint, UdpEndpoint.From(association.RelayEndPoint), dialer.Name);
        var reason = await association.RunAsync().ConfigureAwait(false);
        Log.UdpAssociationClosed(_logger, profile.Ingress, session.ClientEndPoint, reason, association.DatagramsUp, association.DatagramsDown);
        return Ending.Relayed;
    }

    /// <summary>A dial the route step ended before the dialer ran still counts as one of the dialer's, failed.</summary>
    private static DialResult Refused(Route route, DialResult result)
    {
        route.Dialer.Stats.DialStarted();
        route.Dialer.Stats.DialCompleted(result);
        return result;
    }
}
