using System.Buffers;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Inbound;

/// <summary>
/// The RFC 1928 / RFC 1929 server: its request is the SOCKS5 handshake, run under a deadline, and its reply the
/// SOCKS5 reply; the <see cref="ConnectionPipeline"/> does the rest with its dialer (direct, or the upstream for a
/// proxy chain).
/// </summary>
public sealed class Socks5Server : IInbound, IUdpInbound, IAsyncDisposable
{
    public const string InboundName = "server";

    // Greeting (≤257) + auth (≤513) + request (≤262) can all arrive in one segment; anything beyond is early data.
    private const int HandshakeBufferSize = 2048;

    private Socks5ServerSettings _settings;
    private IDialer _dialer;
    private readonly ConnectionPipeline _pipeline;
    private readonly ILogger _logger;
    private readonly ConnectionTracker _connections = new();
    private readonly Admission _admission = new();
    private Listener? _listener;
    private DestinationPolicy _policy = DestinationPolicy.AllowAll;
    private IPEndPoint[] _otherOwnEndpoints = [];
    private InboundProfile _profile;
    private volatile bool _stopping;

    public Socks5Server(Socks5ServerSettings settings, IDialer dialer, ConnectionPipeline pipeline, ILogger logger)
    {
        _settings = settings;
        _dialer = dialer;
        _pipeline = pipeline;
        _logger = logger;
        _profile = BuildProfile();
    }

    public InboundStats Stats { get; } = new(InboundName);

    public IPEndPoint? LocalEndPoint { get; private set; }

    public Socks5ServerSettings Settings => Volatile.Read(ref _settings);

    public IDialer Dialer => Volatile.Read(ref _dialer);

    public bool IsListening => _listener is not null;

    public InboundProfile Profile => Volatile.Read(ref _profile);

    private InboundProfile BuildProfile()
    {
        var settings = Settings;
        return new InboundProfile(
            InboundName, Stats, _admission, new AdmissionLimits(settings.AllowedClients, settings.MaxConnections, settings.MaxHandshakes, settings.MaxHandshakesPerClient),
            new Route(Dialer, _policy, settings.ResolveTimeout), settings.Relay, RepliesInBand: true, RequestBufferSize: HandshakeBufferSize,
            Udp: settings.Udp ? new UdpLimits(settings.UdpTimeout, settings.MaxUdpAssociations) : null);
    }

    /// <summary>Binds and starts accepting. Throws <see cref="System.Net.Sockets.SocketException"/> naming the address when it cannot.</summary>
    public void Start(IEnumerable<IPEndPoint>? otherOwnEndpoints = null)
    {
        if (_listener is not null)
        {
            throw new InvalidOperationException("the server is already listening");
        }

        _stopping = false;
        _admission.Reopen();
        _otherOwnEndpoints = [.. otherOwnEndpoints ?? []];
        _listener = Bind(_settings, _dialer);
    }

    /// <summary>
    /// Applies new settings and a new dialer to the connections accepted from now on. A new listen address is bound
    /// before the old listener closes, so a bind failure changes nothing. Sessions in flight are not touched.
    /// </summary>
    public async Task ReconfigureAsync(Socks5ServerSettings settings, IDialer dialer)
    {
        var old = _listener;
        if (old is not null && !settings.Listen.Equals(_settings.Listen))
        {
            var replacement = Bind(settings, dialer);
            _listener = replacement;
            await old.StopAsync().ConfigureAwait(false);
        }

        Volatile.Write(ref _dialer, dialer);
        Volatile.Write(ref _settings, settings);
        if (_listener is not null)
        {
            _policy = Policy(settings, LocalEndPoint!);
        }

        Volatile.Write(ref _profile, BuildProfile());
    }

    /// <summary>Stops accepting; sessions in flight continue to their natural end.</summary>
    public async Task StopListeningAsync()
    {
        var listener = _listener;
        _listener = null;
        if (listener is not null)
        {
            await listener.StopAsync().ConfigureAwait(false);
            Log.ServerStopped(_logger, listener.EndPoint);
        }
    }

    // A reload keeps the other inbounds' endpoints: losing them would let a client loop through those listeners.
    private DestinationPolicy Policy(Socks5ServerSettings settings, IPEndPoint local)
        => new(settings.DeniedDestinations, [local, .. _otherOwnEndpoints], settings.DenyHostAddresses);

    private Listener Bind(Socks5ServerSettings settings, IDialer dialer)
    {
        var socket = LinuxSocket.Listen(settings.Listen, _pipeline.NextLoop());
        var local = socket.GetLocalEndPoint()!;
        LocalEndPoint = local;
        _policy = Policy(settings, local);
        Volatile.Write(ref _profile, BuildProfile());
        Log.ServerListening(_logger, local, settings.Users.IsEmpty ? "none" : $"{settings.Users.Count} user(s)", dialer.Name);
        return Listener.Start(socket, this, _pipeline, _connections, _logger);
    }

    async ValueTask<InboundRequest> IInbound.ReceiveAsync(Session session, Memory<byte> buffer)
    {
        var client = session.ClientSocket;
        client.SetTimeout(Settings.HandshakeTimeout);
        var request = await HandshakeAsync(session, client, buffer).ConfigureAwait(false);
        client.DeadlineMs = 0;
        return request;
    }

    private async ValueTask<InboundRequest> HandshakeAsync(Session session, LinuxSocket client, Memory<byte> buffer)
    {
        var reader = new MessageReader(client, buffer);

        // Greeting and method selection.
        var greeting = await reader.ReadAsync(static b => Socks5Codec.ParseGreeting(b)).ConfigureAwait(false);
        if (!greeting.IsDone)
        {
            return Fail(session, reader.Describe(greeting, "greeting"));
        }

        var wantAuth = !_settings.Users.IsEmpty;
        var method = wantAuth ? Socks5AuthMethod.UsernamePassword : Socks5AuthMethod.NoAuthentication;
        if (!greeting.Value.Methods.Contains(method))
        {
            await SendAsync(client, b => Socks5Codec.WriteMethodSelection(b, Socks5AuthMethod.NoAcceptable)).ConfigureAwait(false);
            return Fail(session, $"client offered {greeting.Value.Methods}, server requires {method}");
        }

        if (!await SendAsync(client, b => Socks5Codec.WriteMethodSelection(b, method)).ConfigureAwait(false))
        {
            return Fail(session, "client went away");
        }

        // Username/password sub-negotiation (RFC 1929).
        if (wantAuth)
        {
            var auth = await reader.ReadAsync(static b => Socks5Codec.ParseUsernamePassword(b)).ConfigureAwait(false);
            if (!auth.IsDone)
            {
                if (auth.IsInvalid)
                {
                    await SendAsync(client, static b => Socks5Codec.WriteAuthReply(b, false)).ConfigureAwait(false);
                }

                Stats.AuthFailed();
                return Fail(session, reader.Describe(auth, "authentication"));
            }

            var message = reader.LastMessage;
            var ok = _settings.Users.Verify(auth.Value.GetUsername(message), auth.Value.GetPassword(message), out var user);
            if (!ok)
            {
                // The connection closes right after this reply; a CONNECT the client pipelined behind the
                // credentials is never parsed, let alone served.
                await SendAsync(client, static b => Socks5Codec.WriteAuthReply(b, false)).ConfigureAwait(false);
                Stats.AuthFailed();
                Log.AuthFailed(_logger, session.Id, user, session.ClientEndPoint);
                return InboundRequest.Failed;
            }

            if (!await SendAsync(client, static b => Socks5Codec.WriteAuthReply(b, true)).ConfigureAwait(false))
            {
                return Fail(session, "client went away");
            }
        }

        // Request.
        var request = await reader.ReadAsync(static b => Socks5Codec.ParseRequest(b)).ConfigureAwait(false);
        if (!request.IsDone)
        {
            if (request.IsInvalid)
            {
                var code = Socks5Codec.ToReplyCode(request.Error);
                await SendAsync(client, b => Socks5Codec.WriteReply(b, code, default)).ConfigureAwait(false);
            }

            return Fail(session, reader.Describe(request, "request"));
        }

        if (request.Value.Command == Socks5Command.UdpAssociate && Settings.Udp)
        {
            return InboundRequest.ForUdp(request.Value.Destination);
        }

        if (request.Value.Command != Socks5Command.Connect)
        {
            await SendAsync(client, static b => Socks5Codec.WriteReply(b, Socks5ReplyCode.CommandNotSupported, default)).ConfigureAwait(false);
            return Fail(session, $"command {request.Value.Command} is not supported");
        }

        return InboundRequest.For(request.Value.Destination, buffer.Slice(reader.Position, reader.Buffered));
    }

    private InboundRequest Fail(Session session, string reason)
    {
        Stats.HandshakeFailed();
        Log.HandshakeFailed(_logger, session.Id, session.ClientEndPoint, reason);
        return InboundRequest.Failed;
    }

    async ValueTask<bool> IInbound.ReplyAsync(Session session, DialResult result)
    {
        if (!result.Succeeded)
        {
            var code = result.ReplyCode;
            return await SendAsync(session.ClientSocket, b => Socks5Codec.WriteReply(b, code, default)).ConfigureAwait(false);
        }

        // BND is the outgoing socket's local address, as RFC 1928 asks; IPv4-mapped addresses go out as ATYP 1.
        var local = result.Socket!.GetLocalEndPoint() ?? new IPEndPoint(IPAddress.Any, 0);
        if (local.Address.IsIPv4MappedToIPv6)
        {
            local = new IPEndPoint(local.Address.MapToIPv4(), local.Port);
        }

        var bound = Destination.FromEndPoint(local);
        return await SendAsync(session.ClientSocket, b => Socks5Codec.WriteReply(b, Socks5ReplyCode.Succeeded, bound)).ConfigureAwait(false);
    }

    ValueTask<bool> IUdpInbound.ReplyAssociatedAsync(Session session, Socks5ReplyCode code, IPEndPoint? relay)
    {
        var bound = relay is null ? default : Destination.FromEndPoint(relay);
        return SendAsync(session.ClientSocket, b => Socks5Codec.WriteReply(b, code, bound));
    }

    private static async ValueTask<bool> SendAsync(LinuxSocket socket, WriteMessage write)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Socks5Codec.MaxReplyLength);
        try
        {
            var n = write(buffer);
            return !(await socket.SendAsync(buffer.AsMemory(0, n)).ConfigureAwait(false)).HasError;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private delegate int WriteMessage(Span<byte> buffer);

    public async Task StopAsync(TimeSpan drain)
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _admission.Close();
        await StopListeningAsync().ConfigureAwait(false);
        await _connections.DrainAsync(drain, () => _pipeline.Sessions.AbortAll(InboundName)).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}
