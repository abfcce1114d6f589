using System.Runtime.CompilerServices;
using System.Text;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

/// <summary>A SOCKS5 upstream (sing-box, danted, …), and its pool of connections made ahead of time.</summary>
public sealed record Socks5DialerSettings : UpstreamDialerSettings
{
    /// <summary>
    /// Keep up to <see cref="MaxPoolSize"/> idle connections that have already connected, greeted and authenticated,
    /// so a dial costs one round trip (CONNECT) instead of three.
    /// </summary>
    public bool Pooling { get; init; }

    public int MaxPoolSize { get; init; } = 8;

    /// <summary>
    /// Send the greeting and what follows it (the request without credentials, the credentials with them) without
    /// waiting for the method: a round trip fewer per dial, for upstreams that read each message exactly.
    /// </summary>
    public bool Pipelining { get; init; }

    /// <summary>
    /// How long a pooled connection may wait unused. Upstreams close connections that idle between authentication
    /// and request (sing-box does; danted's negotiate timeout is 30 s from accept), so the pool retires its own
    /// a little before the common 30 s; one that dies earlier is caught when taken.
    /// </summary>
    public TimeSpan PoolIdleTimeout { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// The loops pooled sockets live on, round-robin; with it the pool fills as soon as the dialer exists. Without
    /// it the pool starts at the first dial, on that dial's loop. A pooled socket's loop need not be the client's:
    /// each socket is driven by its own loop, so the relay works across loops.
    /// </summary>
    public EventLoopGroup? PoolLoops { get; init; }

    /// <summary>The pool's clock (idle expiry, back-off after failures).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The SOCKS5 client: connects to the upstream, negotiates no-auth or username/password, sends CONNECT and
/// reads the reply byte-exactly, so whatever the destination sends first stays in the socket for the relay.
/// With <see cref="Socks5DialerSettings.Pooling"/> the first two steps are done ahead of time (see
/// <see cref="UpstreamPool"/>). Dispose it to close the pool; without pooling there is nothing to release.
/// </summary>
public sealed class Socks5Dialer : IProbeableDialer, IAsyncDisposable, IDisposable
{
    private readonly Socks5DialerSettings _settings;
    private readonly byte[] _username = [];
    private readonly byte[] _password = [];
    private readonly UpstreamPool? _pool;

    // Made once: a dial that gets past authentication tells the pool the upstream is back, before its reply.
    private readonly Action? _upstreamReachable;

    public Socks5Dialer(Socks5DialerSettings settings)
    {
        _settings = settings;
        if (settings.Username is not null)
        {
            _username = Encoding.UTF8.GetBytes(settings.Username);
            _password = Encoding.UTF8.GetBytes(settings.Password ?? string.Empty);
            if (_username.Length is 0 or > 255 || _password.Length is 0 or > 255)
            {
                throw new ArgumentException("upstream username and password must each be 1-255 bytes", nameof(settings));
            }
        }

        Name = $"socks5://{settings.Server}";
        if (settings.Pooling)
        {
            if (settings.MaxPoolSize < 1)
            {
                throw new ArgumentException("the upstream pool needs room for at least one connection", nameof(settings));
            }

            if (settings.PoolIdleTimeout <= TimeSpan.Zero)
            {
                throw new ArgumentException("the pooled connections' idle timeout must be positive", nameof(settings));
            }

            _pool = new UpstreamPool(OpenAsync, settings.MaxPoolSize, settings.PoolIdleTimeout, Stats, settings.Time);
            _upstreamReachable = _pool.UpstreamReachable;
            if (settings.PoolLoops is { } loops)
            {
                _pool.Start(loops, null);
            }
        }
    }

    public string Name { get; }

    /// <summary>Names go to the upstream as they are; it resolves them.</summary>
    public bool ResolvesLocally => false;

    public Destination Server => _settings.Server;

    public DialerStats Stats { get; } = new();

    /// <summary>For tests: the pool, when pooling is on.</summary>
    internal UpstreamPool? Pool => _pool;

    // A fresh dial is one frame (pooled) for the connect and the whole handshake, plus the connector's: every frame
    // that suspends costs a box per connection, and the dial is on every connection's path.
    public ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        return _pool is null
            ? HandshakeAsync(request.Loop, request.Destination, cancellationToken)
            : DialPooledAsync(_pool, request, cancellationToken);
    }

    private async ValueTask<DialResult> DialPooledAsync(UpstreamPool pool, DialRequest request, CancellationToken cancellationToken)
    {
        var destination = request.Destination;
        if (!pool.IsStarted)
        {
            pool.Start(null, request.Loop);
        }

        if (pool.TryTake(out var pooled, out var pooledRemote))
        {
            Stats.PoolHit();
            pooled.SetTimeout(_settings.HandshakeTimeout);
            Socks5Outcome outcome;
            using (Connector.AbortOnCancel(pooled, cancellationToken))
            {
                outcome = await Socks5Client.RequestAsync(pooled, Socks5Command.Connect, destination).ConfigureAwait(false);
            }

            if (Finish(pooled, outcome, pooledRemote, destination, cancellationToken, canRetry: true) is { } done)
            {
                Stats.DialCompleted(done);
                return done;
            }

            // The upstream dropped the idle connection as we used it (its idle timer, a restart): that says
            // nothing about the destination, so one fresh connection gets the request.
            Stats.PoolRetry();
        }
        else
        {
            Stats.PoolMiss();
        }

        return await HandshakeAsync(request.Loop, destination, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A UDP ASSOCIATE on a control connection of its own, opened, authenticated and marked as a CONNECT's is.</summary>
    public async ValueTask<UdpAssociateResult> AssociateAsync(UdpRuntime runtime, UdpStats stats, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = await Socks5UdpAssociation.OpenAsync(runtime, stats, OpenAsync, _settings.Server, _settings.Mark, cancellationToken).ConfigureAwait(false);
        Stats.AssociationCompleted(result);
        return result;
    }

    /// <summary>A health check: connect, greet and authenticate, and with a target CONNECT to it; each step names its failure.</summary>
    public async ValueTask<(HealthReason Reason, string? Detail)> ProbeAsync(Loop loop, Destination? target, CancellationToken cancellationToken)
    {
        var connected = await ProbeConnectAsync(_settings.Server, loop, _settings.Connect, cancellationToken).ConfigureAwait(false);
        if (connected.Socket is not { } socket)
        {
            return (connected.Reason, connected.Detail);
        }

        using (socket)
        using (Connector.AbortOnCancel(socket, cancellationToken))
        {
            socket.SetTimeout(_settings.HandshakeTimeout);
            if (_settings.Pipelining && target is { } pipelinedTo)
            {
                // Probed as it is dialed: an upstream that cannot take a pipelined handshake (microsocks) must show down.
                var whole = await Socks5Client.HandshakeAsync(socket, new Socks5ClientHandshake(_username, _password), Socks5Command.Connect, pipelinedTo, pipelined: true)
                    .ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                return whole.Ok ? (HealthReason.None, null)
                    : whole.Error == DialError.UpstreamAuthFailed ? (HealthReason.Auth, whole.Detail)
                    : whole.Error == DialError.UpstreamRejected ? (HealthReason.Target, $"CONNECT {pipelinedTo}: {whole.Reply}")
                    : (HealthReason.Handshake, whole.Detail);
            }

            var outcome = await Socks5Client.AuthenticateAsync(socket, new Socks5ClientHandshake(_username, _password)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (!outcome.Ok)
            {
                return (outcome.Error == DialError.UpstreamAuthFailed ? HealthReason.Auth : HealthReason.Handshake, outcome.Detail);
            }

            if (target is { } to)
            {
                outcome = await Socks5Client.RequestAsync(socket, Socks5Command.Connect, to).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (!outcome.Ok)
                {
                    return (HealthReason.Target, outcome.Error == DialError.UpstreamRejected ? $"CONNECT {to}: {outcome.Reply}" : outcome.Detail);
                }
            }
        }

        return (HealthReason.None, null);
    }

    /// <summary>The connect step of a health check, with refused and timed out told apart.</summary>
    internal static async ValueTask<(LinuxSocket? Socket, HealthReason Reason, string? Detail)> ProbeConnectAsync(
        Destination server, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
    {
        var (addresses, unresolved) = await Connector.ResolveAsync(server, options.Timeout, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            return (null, HealthReason.Refused, unresolved.Detail);
        }

        var connected = await Connector.ConnectAnyAsync(addresses, server.Port, loop, options, cancellationToken).ConfigureAwait(false);
        return connected.Succeeded
            ? (connected.Socket, HealthReason.None, null)
            : (null, connected.Error == DialError.TimedOut ? HealthReason.Timeout : HealthReason.Refused, connected.Detail);
    }

    /// <summary>Stops refilling and closes the idle pooled connections; opens in flight close theirs as they finish.</summary>
    public void Dispose() => _pool?.Dispose();

    /// <summary>Like <see cref="Dispose"/>, and returns once no pooled socket and no background open is left.</summary>
    public ValueTask DisposeAsync() => _pool?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>
    /// Turns a request outcome into the dial's result and settles the socket: kept on success, closed otherwise.
    /// With <paramref name="canRetry"/>, a stale connection yields null so the caller can retry. Throws if the caller cancelled.
    /// </summary>
    private DialResult? Finish(LinuxSocket socket, Socks5Outcome outcome, IPEndPoint remote, Destination destination, CancellationToken cancellationToken, bool canRetry)
    {
        socket.DeadlineMs = 0;
        if (cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (outcome.Ok)
        {
            return DialResult.Connected(socket, remote);
        }

        socket.Dispose();
        if (canRetry && outcome.Stale)
        {
            return null;
        }

        return outcome.Error == DialError.UpstreamRejected
            ? DialResult.Fail(DialError.UpstreamRejected, $"upstream {_settings.Server} replied {outcome.Reply} to CONNECT {destination}", outcome.Reply)
            : DialResult.Fail(outcome.Error, $"upstream {_settings.Server}: {outcome.Detail}");
    }

    /// <summary>
    /// Connects to the upstream and authenticates: everything before the request, which is what a pooled connection
    /// has done. The handshake deadline stays armed on the returned socket for the request that follows.
    /// Throws only if <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    private ValueTask<DialResult> OpenAsync(Loop loop, CancellationToken cancellationToken) => HandshakeAsync(loop, null, cancellationToken);

    /// <summary>
    /// Connect and authenticate; with <paramref name="connectTo"/> (a fresh connection's dial) also CONNECT, in the same
    /// exchange, then settle the socket and count the dial.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<DialResult> HandshakeAsync(Loop loop, Destination? connectTo, CancellationToken cancellationToken)
    {
        var connected = await Connector.ConnectToUpstreamAsync(_settings.Server, loop, _settings.Connect, cancellationToken).ConfigureAwait(false);
        if (!connected.Succeeded)
        {
            return connectTo is null ? connected : Counted(connected);
        }

        var socket = connected.Socket!;
        socket.SetTimeout(_settings.HandshakeTimeout);
        var handshake = new Socks5ClientHandshake(_username, _password);
        Socks5Outcome outcome;
        using (Connector.AbortOnCancel(socket, cancellationToken))
        {
            outcome = connectTo is { } to
                ? await Socks5Client.HandshakeAsync(socket, handshake, Socks5Command.Connect, to, _upstreamReachable, _settings.Pipelining).ConfigureAwait(false)
                : await Socks5Client.AuthenticateAsync(socket, handshake, _settings.Pipelining).ConfigureAwait(false);
        }

        if (connectTo is { } destination)
        {
            return Counted(Finish(socket, outcome, connected.Remote!, destination, cancellationToken, canRetry: false)!.Value);
        }

        if (cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (!outcome.Ok)
        {
            socket.Dispose();
            return DialResult.Fail(outcome.Error, $"upstream {_settings.Server}: {outcome.Detail}");
        }

        return connected;
    }

    private DialResult Counted(DialResult result)
    {
        Stats.DialCompleted(result);
        return result;
    }
}
