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
    private const int MaxDialsPerClient = 256;

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

        _listeners.AddRange(_bound.Select(socket => Listener.Start(socket, this, _pipeline, _connections, _logger)));
        _bound.Clear();

        Log.InterfaceEnabled(_logger, Name, _path.Mode.ToString().ToLowerInvariant(), _path.Port, Dialer.Name);
    }

    private void Listen(IPEndPoint endPoint)
    {
        try
        {
            _bound.Add(LinuxSocket.Listen(endPoint, _pipeline.NextLoop(), beforeBind: socket =>
            {
                var error = socket.SetBindToDevice(Name);
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
        var client = session.ClientSocket;
        var deadline = Environment.TickCount64 + (long)sniff.Timeout.TotalMilliseconds;
        var buffer = session.RentRequestBuffer(Sniffer.MaxInputLength);
        var tick = client.Readable.Tick;
        var received = client.TryReceive(buffer.Span);
        if (!received.HasError)
        {
            if (received.Bytes == 0)
            {
                return ValueTask.FromResult(Unsniffed(session, destination, buffer[..0], "the client sent its FIN first"));
            }

            return Sniffed(session, destination, sniff, buffer, received.Bytes) is { } request
                ? ValueTask.FromResult(request)
                : SniffSlowAsync(session, destination, sniff, buffer, received.Bytes, -1, deadline);
        }

        if (received.Error is not (Errno.EAGAIN or Errno.EINTR))
        {
            return ValueTask.FromResult(ClientFailed(session, received.Error));
        }

        return SniffSlowAsync(session, destination, sniff, buffer, 0, tick, deadline);
    }

    /// <param name="tick">The readable tick seen before the last receive found nothing; -1 to receive first.</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<InboundRequest> SniffSlowAsync(
        Session session, IPEndPoint destination, SniffSettings sniff, Memory<byte> buffer, int filled, int tick, long deadline)
    {
        var client = session.ClientSocket;

        // The loop wakes the wait at the deadline to the millisecond; the socket's own deadline would abort it.
        client.WakeReadableAt(deadline);
        try
        {
            while (true)
            {
                if (tick < 0)
                {
                    tick = client.Readable.Tick;
                    var received = client.TryReceive(buffer.Span[filled..]);
                    if (!received.HasError)
                    {
                        if (received.Bytes == 0)
                        {
                            return Unsniffed(session, destination, buffer[..filled], "the client sent its FIN before a whole request");
                        }

                        filled += received.Bytes;
                        if (Sniffed(session, destination, sniff, buffer, filled) is { } done)
                        {
                            return done;
                        }

                        tick = -1;
                        continue;
                    }

                    if (received.Error is not (Errno.EAGAIN or Errno.EINTR))
                    {
                        return ClientFailed(session, received.Error);
                    }
                }

                if (Environment.TickCount64 >= deadline)
                {
                    // A server-first protocol, or a client that is slow to speak: the bytes so far go ahead as they are.
                    return Unsniffed(session, destination, buffer[..filled], filled == 0 ? "nothing sent within the sniff timeout" : "no whole request within the sniff timeout");
                }

                var waited = await client.Readable.WaitAsync(tick).ConfigureAwait(false);
                if (waited != Errno.None)
                {
                    return ClientFailed(session, waited);
                }

                tick = -1;
            }
        }
        finally
        {
            client.CancelWake();
        }
    }

    /// <summary>The request once the sniffer has its answer for <paramref name="filled"/> bytes; null when it needs more.</summary>
    private InboundRequest? Sniffed(Session session, IPEndPoint destination, SniffSettings sniff, Memory<byte> buffer, int filled)
    {
        var result = Sniffer.Sniff(buffer.Span[..filled]);
        if (result.NeedsMoreData && filled < buffer.Length)
        {
            return null;
        }

        var early = buffer[..filled];
        if (result.Name is not { } name)
        {
            return Unsniffed(session, destination, early, result.IsFound ? $"{Describe(result.Protocol)} without a usable name: {result.NameError}" : "not TLS or HTTP");
        }

        session.Host = name;
        Stats.Sniffed(result.Protocol);
        var target = Destination.FromEndPoint(destination);
        if (sniff.BypassDomains.Matches(name) && Volatile.Read(ref _bypassRoute) is { } bypass)
        {
            Log.Sniffed(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), name, "in transparent.bypassDomains: direct to the address");
            return InboundRequest.For(target, early, bypass);
        }

        if (KeepsAddress(sniff, name, destination.Port) is { } why)
        {
            Log.Sniffed(_logger, session.Id, session.ClientEndPoint, destination, Describe(result.Protocol), name, why);
            return InboundRequest.For(target, early);
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
            return $"recorded; {Dialer.Name} connects to the address";
        }

        // The client chose the name, and the upstream resolves it on its own host: "localhost", a single label its
        // search domains complete, or a name this gateway maps to itself would reach what the address never could.
        if (!name.Contains('.', StringComparison.Ordinal) || DestinationPolicy.IsLocalName(name) || _policy.IsDeniedName(name, port))
        {
            return "recorded; a local or single-label name, so the upstream gets the address";
        }

        return null;
    }

    private InboundRequest Unsniffed(Session session, IPEndPoint destination, Memory<byte> early, string why)
    {
        Log.NothingSniffed(_logger, session.Id, session.ClientEndPoint, destination, why);
        return InboundRequest.For(Destination.FromEndPoint(destination), early);
    }

    private InboundRequest ClientFailed(Session session, Errno error)
    {
        // A reset or an abort (the daemon stopping) while waiting: there is no client left to dial for.
        Stats.HandshakeFailed();
        Log.ConnectionRejected(_logger, session.ClientEndPoint, $"{Name}: client failed while sniffed: {error.Describe()}");
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
