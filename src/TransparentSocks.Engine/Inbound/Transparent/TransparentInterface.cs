using System.Net.Sockets;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Options;

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

        return ValueTask.FromResult(InboundRequest.For(Destination.FromEndPoint(destination)));
    }

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
