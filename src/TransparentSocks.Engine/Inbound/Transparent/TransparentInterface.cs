using System.Net.Sockets;
using System.Runtime.CompilerServices;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Options;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Engine.Inbound;

/// <summary>One enabled interface: its listeners, limits, dialer and statistics. Its request is the original destination.</summary>
public sealed class TransparentInterface : IInbound
{
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(5);

    // The slow step here is the dial, not the client: a host that opens connections to blackholed addresses holds
    // each one (and its fds) for the whole connect timeout, and without a share of its own could take every
    // connection the interface has. So the budget is a per-host cap on connections still dialing. It is far above
    // an honest host's burst (a browser loading a page has some dozens in flight; bench/conn-rate.sh keeps 50), as
    // a NAT or a busy host behind one address must not be cut off. There is no global dial budget with eviction:
    // a dial's length is the destination's and bounded by upstream.connectTimeout, the interface's maxConnections
    // already bounds the whole, and evicting a dial would need a cancellable dial per connection on the accept path.
    // With sniffing, a connection also waits here for its client's first bytes, at most sniffTimeout (10 s at most)
    // from accept however it trickles, inside the same per-host budget.
    private const int MaxDialsPerClient = 256;

    private const int FirstSniffBuffer = 4096;

    // Names whose meaning depends on the network that resolves them (RFC 6761, 6762, 8375, and the customary LAN ones).
    private static readonly DomainSuffixSet SiteLocalNames = DomainSuffixSet.Parse(["localhost", "local", "internal", "home.arpa", "lan", "localdomain", "invalid"]);

    private readonly TransparentPath _owner;
    private readonly TransparentSettings _path;
    private readonly DestinationPolicy _policy;
    private readonly ConnectionPipeline _pipeline;
    private readonly ConnectionTracker _connections;
    private readonly ILogger _logger;
    private readonly List<LinuxSocket> _bound = [];
    private readonly List<Listener> _listeners = [];
    private readonly Admission _admission = new();
    private TransparentInterfaceSettings _settings;
    private InboundProfile _profile;
    private Route? _bypassRoute;
    private volatile bool _stopping;

    internal TransparentInterface(
        TransparentInterfaceSettings settings, TransparentPath owner, DestinationPolicy policy, ConnectionPipeline pipeline,
        ConnectionTracker connections, ILogger logger)
    {
        _settings = settings;
        _owner = owner;

        // Mode, port and family are fixed for the life of the listeners; the relay settings come with the profile.
        _path = owner.Settings;
        _policy = policy;
        _pipeline = pipeline;
        _connections = connections;
        _logger = logger;
        Stats = new InboundStats(settings.Name);
        _profile = BuildProfile();
    }

    public string Name => _settings.Name;

    public IDialer Dialer => Volatile.Read(ref _settings).Dialer;

    public int MaxConnections => Volatile.Read(ref _settings).MaxConnections;

    public InboundStats Stats { get; }

    public InboundProfile Profile => Volatile.Read(ref _profile);

    /// <summary>A new upstream or limit for connections accepted from now on; running sessions keep theirs.</summary>
    public void Update(TransparentInterfaceSettings settings)
    {
        if (settings.Name != Name)
        {
            throw new ArgumentException("an interface cannot be renamed", nameof(settings));
        }

        Volatile.Write(ref _settings, settings);
        Refresh();
    }

    internal void Refresh() => Volatile.Write(ref _profile, BuildProfile());

    private InboundProfile BuildProfile()
    {
        var settings = Volatile.Read(ref _settings);
        Volatile.Write(ref _bypassRoute, settings.Direct is { } direct ? new Route(direct, _policy, ResolveTimeout) : null);

        // No request buffer from the pipeline: the sniff step rents one only for a connection it sniffs.
        return new InboundProfile(
            settings.Name, Stats, _admission, new AdmissionLimits(null, settings.MaxConnections, 0, MaxDialsPerClient, HandshakeIncludesDial: true),
            new Route(settings.Dialer, _policy, ResolveTimeout), _owner.Settings.Relay, RepliesInBand: false, RequestBufferSize: 0);
    }

    internal void Start()
    {
        try
        {
            Listen(new IPEndPoint(IPAddress.Any, _path.Port));
            if (_path.Ipv6)
            {
                Listen(new IPEndPoint(IPAddress.IPv6Any, _path.Port));
            }
        }
        catch
        {
            // Both families or neither: an interface half-listening would divert one family into nothing.
            _bound.ForEach(s => s.Dispose());
            _bound.Clear();
            throw;
        }

        try
        {
            _owner.Udp?.Enable(Name, () => Dialer, Stats.Udp);
        }
        catch
        {
            _bound.ForEach(s => s.Dispose());
            _bound.Clear();
            throw;
        }

        _listeners.AddRange(_bound.Select(socket => Listener.Start(socket, this, _pipeline, _connections, _logger, ownLoop: true)));
        _bound.Clear();

        Log.InterfaceEnabled(_logger, Name, _path.Mode.ToString().ToLowerInvariant(), _path.Port, Dialer.Name);
    }

    /// <summary>
    /// A listener per event loop, in one SO_REUSEPORT group: the kernel spreads new connections over them, and a
    /// connection is then accepted, dialed and relayed on one thread, with no hand-over between loops on the way.
    /// </summary>
    private void Listen(IPEndPoint endPoint)
    {
        foreach (var loop in _pipeline.Loops)
        {
            Listen(endPoint, loop);
        }
    }

    private void Listen(IPEndPoint endPoint, Linux.EventLoop.EventLoop loop)
    {
        try
        {
            _bound.Add(LinuxSocket.Listen(endPoint, loop, beforeBind: socket =>
            {
                var error = socket.SetReusePort();
                if (error != Errno.None)
                {
                    throw new InvalidOperationException($"interface '{Name}': SO_REUSEPORT failed: {error.Describe()}");
                }

                error = socket.SetBindToDevice(Name);
                if (error != Errno.None)
                {
                    throw new InvalidOperationException(error == Errno.ENODEV
                        ? $"interface '{Name}' does not exist"
                        : $"interface '{Name}': SO_BINDTODEVICE failed: {error.Describe()}");
                }

                if (_path.Mode == TransparentMode.Tproxy)
                {
                    error = socket.SetTransparent(endPoint.AddressFamily);
                    if (error != Errno.None)
                    {
                        throw new InvalidOperationException($"interface '{Name}': IP_TRANSPARENT failed ({error.Describe()}); TPROXY needs CAP_NET_ADMIN");
                    }
                }
            }));
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"interface '{Name}': cannot listen on {endPoint}: {ex.Message}", ex);
        }
    }

    ValueTask<InboundRequest> IInbound.ReceiveAsync(Session session, Memory<byte> buffer)
    {
        var client = session.ClientSocket;

        // TPROXY leaves the packet's destination alone, so the accepted socket's local address is it; REDIRECT
        // rewrote it, and conntrack still knows the original.
        var destination = _path.Mode == TransparentMode.Tproxy
            ? client.GetLocalEndPoint()
            : client.GetOriginalDestination(session.ClientEndPoint.AddressFamily, out _);
        if (destination is null)
        {
            Stats.HandshakeFailed();
            Log.ConnectionRejected(_logger, session.ClientEndPoint, $"{Name}: no original destination (connected to the divert port directly?)");
            return ValueTask.FromResult(InboundRequest.Failed);
        }

        if (destination.Address.IsIPv4MappedToIPv6)
        {
            destination = new IPEndPoint(destination.Address.MapToIPv4(), destination.Port);
        }

        var sniff = _owner.Settings.Sniff;
        if (!sniff.Enabled || sniff.Skips(destination.Port))
        {
            return ValueTask.FromResult(InboundRequest.For(Destination.FromEndPoint(destination)));
        }

        return Sniff(session, destination, sniff);
    }

    /// <summary>
    /// The sniff step: the client's first bytes, waited for up to the timeout, read into the session's buffer and
    /// forwarded as early data whatever they are. Synchronous when they are already there, as they mostly are for a
    /// client that speaks first; only a wait costs a frame.
    /// </summary>
    private ValueTask<InboundRequest> Sniff(Session session, IPEndPoint destination, SniffSettings sniff)
    {
        var deadline = Environment.TickCount64 + (long)sniff.Timeout.TotalMilliseconds;

        // Most first flights fit 4 KiB (a ClientHello with a post-quantum key share is under 2 KiB); the rare one that
        // does not grows the buffer, so a crowd of clients that never speak holds 4 KiB each, not the 16 KiB maximum.
        session.RentRequestBuffer(FirstSniffBuffer);
        var progress = new SniffProgress { Needed = 1 };
        return Advance(session, destination, sniff, ref progress) is { } request
            ? ValueTask.FromResult(request)
            : SniffSlowAsync(session, destination, sniff, progress, deadline);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<InboundRequest> SniffSlowAsync(Session session, IPEndPoint destination, SniffSettings sniff, SniffProgress progress, long deadline)
    {
        var client = session.ClientSocket;

        // The loop wakes the wait at the deadline to the millisecond; the socket's own deadline would abort it.
        client.WakeReadableAt(deadline);
        try
        {
            while (true)
            {
                var waited = await client.Readable.WaitAsync(progress.Tick).ConfigureAwait(false);
                if (waited != Errno.None)
                {
                    return ClientFailed(session, waited);
                }

                if (Advance(session, destination, sniff, ref progress) is { } request)
                {
                    return request;
                }

                if (Environment.TickCount64 >= deadline)
                {
                    // A server-first protocol, or a client slow to speak: the bytes so far go ahead as they are.
                    return Unsniffed(session, destination, progress.Filled, progress.Filled == 0 ? "nothing sent within sniffTimeout" : "no whole request within sniffTimeout");
                }
            }
        }
        finally
        {
            client.CancelWake();
        }
    }

    /// <summary>Where a sniff stands: bytes received, the count the sniffer needs before it can say more, and the
    /// readable tick seen before the receive that found nothing.</summary>
    private struct SniffProgress
    {
        public int Filled;
        public int Needed;
        public int Tick;
    }

    /// <summary>
    /// Receives what the client has sent and sniffs it once there is as much as the sniffer asked for (a client that
    /// trickles a byte at a time is not parsed again per byte). The request once decided; null to wait for more.
    /// </summary>
    private InboundRequest? Advance(Session session, IPEndPoint destination, SniffSettings sniff, ref SniffProgress progress)
    {
        var client = session.ClientSocket;
        while (true)
        {
            progress.Tick = client.Readable.Tick;
            var buffer = session.RequestBuffer;
            var received = client.TryReceive(buffer.Span[progress.Filled..]);
            if (received.HasError)
            {
                if (received.Error == Errno.EINTR)
                {
                    continue;
                }

                return received.Error == Errno.EAGAIN ? null : ClientFailed(session, received.Error);
            }

            if (received.Bytes == 0)
            {
                return Unsniffed(session, destination, progress.Filled, progress.Filled == 0 ? "the client sent its FIN first" : "the client sent its FIN before a whole request");
            }

            progress.Filled += received.Bytes;
            if (progress.Filled < progress.Needed && progress.Filled < buffer.Length)
            {
                continue;
            }

            var result = Sniffer.Sniff(buffer.Span[..progress.Filled]);
            if (!result.NeedsMoreData)
            {
                return Decided(session, destination, sniff, progress.Filled, result);
            }

            progress.Needed = progress.Filled + result.Needed;
            if (progress.Filled == buffer.Length)
            {
                if (buffer.Length >= Sniffer.MaxInputLength)
                {
                    return Unsniffed(session, destination, progress.Filled, "a first message longer than the sniffers read");
                }

                session.GrowRequestBuffer(Sniffer.MaxInputLength, progress.Filled);
            }
        }
    }

    /// <summary>The request for a first message the sniffer has an answer for.</summary>
    private InboundRequest Decided(Session session, IPEndPoint destination, SniffSettings sniff, int filled, SniffResult result)
    {
        var early = session.RequestBuffer[..filled];
        if (result.Name is not { } name)
        {
            if (result.IsFound)
            {
                Log.SniffedWithoutName(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), result.NameError);
            }
            else
            {
                Log.NothingSniffed(_logger, session.Id, session.ClientEndPoint, destination, "neither TLS nor HTTP");
            }

            return InboundRequest.For(Destination.FromEndPoint(destination), early);
        }

        session.Host = name;
        Stats.Sniffed(result.Protocol);
        if (sniff.BypassDomains.Matches(name) && Volatile.Read(ref _bypassRoute) is { } bypass)
        {
            // Direct to the name as this gateway resolves it, not to the address the client chose: otherwise any
            // client could send a listed name to any address and leave through the gateway instead of the upstream.
            Log.Sniffed(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), name, "in transparent.bypassDomains: direct, resolved here");
            return InboundRequest.For(Destination.FromHost(name, destination.Port), early, bypass);
        }

        if (KeepsAddress(sniff, name, destination.Port) is { } why)
        {
            Log.Sniffed(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), name, why);
            return InboundRequest.For(Destination.FromEndPoint(destination), early);
        }

        Log.Sniffed(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), name, "the upstream gets the name");
        return InboundRequest.For(Destination.FromHost(name, destination.Port), early);
    }

    /// <summary>Why the address, not <paramref name="name"/>, goes to the upstream; null when the name does.</summary>
    private string? KeepsAddress(SniffSettings sniff, string name, int port)
    {
        if (!sniff.Override)
        {
            return "recorded (sniffOverride is off); the upstream gets the address";
        }

        // A dialer that resolves names itself (direct) would only look up what the client already looked up.
        if (Dialer.ResolvesLocally)
        {
            return "recorded; a direct dialer connects to the address";
        }

        // The client chose the name, and the upstream resolves it on its own host: "localhost", a single label its
        // search domains complete, a special-use or site-local name, or one this gateway maps to itself would reach
        // what the address never could.
        if (!name.Contains('.', StringComparison.Ordinal) || SiteLocalNames.Matches(name) || _policy.IsDeniedName(name, port))
        {
            return "recorded; a local, special-use or single-label name, so the upstream gets the address";
        }

        return null;
    }

    private InboundRequest Unsniffed(Session session, IPEndPoint destination, int filled, string why)
    {
        Log.NothingSniffed(_logger, session.Id, session.ClientEndPoint, destination, why);
        return InboundRequest.For(Destination.FromEndPoint(destination), session.RequestBuffer[..filled]);
    }

    private InboundRequest ClientFailed(Session session, Errno error)
    {
        // A reset or an abort (the daemon stopping) while waiting: there is no client left to dial for.
        Stats.HandshakeFailed();
        Log.SniffClientFailed(_logger, session.ClientEndPoint, Name, error.Describe());
        return InboundRequest.Failed;
    }

    private static string Describe(SniffedProtocol protocol) => protocol == SniffedProtocol.Tls ? "tls" : "http";

    // Nothing to say in-band on a transparent connection: the pipeline resets a client whose dial failed.
    ValueTask<bool> IInbound.ReplyAsync(Session session, DialResult result) => ValueTask.FromResult(result.Succeeded);

    internal async Task StopAcceptingAsync()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _owner.Udp?.Disable(Name);
        await Task.WhenAll(_listeners.Select(l => l.StopAsync())).ConfigureAwait(false);

        Log.InterfaceDisabled(_logger, Name);
    }
}
