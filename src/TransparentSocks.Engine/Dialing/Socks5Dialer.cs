using System.Buffers;
using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

public sealed record Socks5DialerSettings
{
    /// <summary>The upstream SOCKS5 server (sing-box, danted, …).</summary>
    public required Destination Server { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>SO_MARK for upstream sockets (0 = none), so nft and policy routing can skip the proxy's own traffic.</summary>
    public uint Mark { get; init; }

    /// <summary>
    /// Keep up to <see cref="MaxPoolSize"/> idle connections that have already connected, greeted and authenticated,
    /// so a dial costs one round trip (CONNECT) instead of three.
    /// </summary>
    public bool Pooling { get; init; }

    public int MaxPoolSize { get; init; } = 8;

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
}

/// <summary>
/// The SOCKS5 client: connects to the upstream, negotiates no-auth or username/password, sends CONNECT and
/// reads the reply byte-exactly, so whatever the destination sends first stays in the socket for the relay.
/// With <see cref="Socks5DialerSettings.Pooling"/> the first two steps are done ahead of time (see
/// <see cref="UpstreamPool"/>). Dispose it to close the pool; without pooling there is nothing to release.
/// </summary>
public sealed class Socks5Dialer : IDialer, IAsyncDisposable, IDisposable
{
    private readonly Socks5DialerSettings _settings;
    private readonly byte[]? _username;
    private readonly byte[]? _password;
    private readonly UpstreamPool? _pool;

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

            _pool = new UpstreamPool(OpenAsync, settings.MaxPoolSize, settings.PoolIdleTimeout, Stats);
            if (settings.PoolLoops is { } loops)
            {
                _pool.Start(loops, null);
            }
        }
    }

    public string Name { get; }

    public Destination Server => _settings.Server;

    public DialerStats Stats { get; } = new();

    /// <summary>For tests: the pool, when pooling is on.</summary>
    internal UpstreamPool? Pool => _pool;

    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = await DialCoreAsync(request, cancellationToken).ConfigureAwait(false);
        Stats.DialCompleted(result);
        return result;
    }

    /// <summary>Stops refilling and closes the idle pooled connections; opens in flight close theirs as they finish.</summary>
    public void Dispose() => _pool?.Dispose();

    /// <summary>Like <see cref="Dispose"/>, and returns once no pooled socket and no background open is left.</summary>
    public ValueTask DisposeAsync() => _pool?.DisposeAsync() ?? ValueTask.CompletedTask;

    private async ValueTask<DialResult> DialCoreAsync(DialRequest request, CancellationToken cancellationToken)
    {
        var destination = request.Destination;
        if (request.Policy is { } policy)
        {
            if (destination.IsDomain ? policy.IsDeniedName(destination.Host, destination.Port) : policy.IsDenied(destination.Address, destination.Port))
            {
                return DialResult.Fail(DialError.Denied, $"{destination} is not allowed");
            }
        }

        if (_pool is { } pool)
        {
            if (!pool.IsStarted)
            {
                pool.Start(null, request.Loop);
            }

            if (pool.TryTake(out var pooled, out var pooledRemote))
            {
                Stats.PoolHit();
                pooled.SetTimeout(_settings.HandshakeTimeout);
                var outcome = await RequestAsync(pooled, destination, cancellationToken).ConfigureAwait(false);
                if (Finish(pooled, outcome, pooledRemote, destination, cancellationToken, canRetry: true) is { } done)
                {
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
        }

        var opened = await OpenAsync(request.Loop, cancellationToken).ConfigureAwait(false);
        if (!opened.Succeeded)
        {
            return opened;
        }

        _pool?.UpstreamReachable();
        var socket = opened.Socket!;
        var result = await RequestAsync(socket, destination, cancellationToken).ConfigureAwait(false);
        return Finish(socket, result, opened.Remote!, destination, cancellationToken, canRetry: false)!.Value;
    }

    /// <summary>
    /// Turns a request outcome into the dial's result and settles the socket: kept on success, closed otherwise.
    /// With <paramref name="canRetry"/>, a stale connection yields null so the caller can retry. Throws if the caller cancelled.
    /// </summary>
    private DialResult? Finish(LinuxSocket socket, HandshakeOutcome outcome, IPEndPoint remote, Destination destination, CancellationToken cancellationToken, bool canRetry)
    {
        socket.DeadlineMs = 0;
        if (cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (outcome.Error == DialError.None)
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
    private async ValueTask<DialResult> OpenAsync(Loop loop, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        if (_settings.Server.IsDomain)
        {
            var (resolved, error) = await HostResolver.ResolveAsync(_settings.Server.Host, _settings.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                return DialResult.Fail(DialError.UpstreamUnavailable, error);
            }

            addresses = resolved;
        }
        else
        {
            addresses = [_settings.Server.Address];
        }

        var last = DialResult.Fail(DialError.UpstreamUnavailable, "no address");
        foreach (var address in addresses)
        {
            var endPoint = new IPEndPoint(address, _settings.Server.Port);
            last = await ConnectAsync(endPoint, loop, cancellationToken).ConfigureAwait(false);
            if (!last.Succeeded)
            {
                continue;
            }

            var socket = last.Socket!;
            socket.SetTimeout(_settings.HandshakeTimeout);
            HandshakeOutcome outcome;
            using (AbortOnCancel(socket, cancellationToken))
            {
                outcome = await AuthenticateAsync(socket).ConfigureAwait(false);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (outcome.Error != DialError.None)
            {
                socket.Dispose();
                return DialResult.Fail(outcome.Error, $"upstream {_settings.Server}: {outcome.Detail}");
            }

            return last;
        }

        return last;
    }

    /// <summary>One non-blocking connect with a deadline, which <paramref name="cancellationToken"/> can cut short.</summary>
    private async ValueTask<DialResult> ConnectAsync(IPEndPoint endPoint, Loop loop, CancellationToken cancellationToken)
    {
        LinuxSocket socket;
        try
        {
            socket = LinuxSocket.Create(endPoint.AddressFamily, loop);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return DialResult.Fail(DialError.ResourceExhausted, $"socket(): {ex.Message}");
        }

        if (_settings.Mark != 0)
        {
            var markError = socket.SetMark(_settings.Mark);
            if (markError != Errno.None)
            {
                socket.Dispose();
                return DialResult.Fail(DialError.UpstreamUnavailable, $"SO_MARK {_settings.Mark:x}: {markError.Describe()}");
            }
        }

        _ = socket.SetNoDelay();
        socket.SetTimeout(_settings.ConnectTimeout);
        Errno error;
        using (AbortOnCancel(socket, cancellationToken))
        {
            error = await socket.ConnectAsync(endPoint).ConfigureAwait(false);
        }

        socket.DeadlineMs = 0;
        if (cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (error == Errno.None)
        {
            return DialResult.Connected(socket, endPoint);
        }

        socket.Dispose();
        var kind = error is Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM ? DialError.ResourceExhausted : DialError.UpstreamUnavailable;
        return DialResult.Fail(kind, $"connect {endPoint}: {error.Describe()}");
    }

    /// <summary>Abort, not Dispose: the operation in flight returns ECANCELED and its owner then closes the socket.</summary>
    private static CancellationTokenRegistration AbortOnCancel(LinuxSocket socket, CancellationToken cancellationToken)
        => cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((LinuxSocket)s!).Abort(Errno.ECANCELED), socket)
            : default;

    /// <param name="Stale">The connection broke before the request got any answer (send failed, or EOF/RST before
    /// the first reply byte): on a pooled connection that means the upstream had dropped it, not the destination.</param>
    private readonly record struct HandshakeOutcome(DialError Error, Socks5ReplyCode Reply, string? Detail, bool Stale = false);

    private async ValueTask<HandshakeOutcome> AuthenticateAsync(LinuxSocket socket)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(600);
        try
        {
            Socks5AuthMethod[] offer = _username is null
                ? [Socks5AuthMethod.NoAuthentication]
                : [Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword];
            var n = Socks5Codec.WriteGreeting(buffer, offer);
            if (!await SendAsync(socket, buffer, n).ConfigureAwait(false))
            {
                return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, "closed during greeting");
            }

            var read = await ReceiveExactlyAsync(socket, buffer, 0, 2).ConfigureAwait(false);
            if (read != Errno.None)
            {
                return Broken(read, "greeting");
            }

            var selection = Socks5Codec.ParseMethodSelection(buffer.AsSpan(0, 2));
            if (!selection.IsDone)
            {
                return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"bad method selection ({selection.Error})");
            }

            if (selection.Value == Socks5AuthMethod.UsernamePassword && _username is not null)
            {
                n = Socks5Codec.WriteUsernamePassword(buffer, _username, _password);
                if (!await SendAsync(socket, buffer, n).ConfigureAwait(false))
                {
                    return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, "closed during authentication");
                }

                read = await ReceiveExactlyAsync(socket, buffer, 0, 2).ConfigureAwait(false);
                if (read != Errno.None)
                {
                    return Broken(read, "authentication");
                }

                var auth = Socks5Codec.ParseAuthReply(buffer.AsSpan(0, 2));
                if (!auth.IsDone)
                {
                    return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"bad authentication reply ({auth.Error})");
                }

                if (!auth.Value)
                {
                    return new(DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure, "credentials refused");
                }
            }
            else if (selection.Value != Socks5AuthMethod.NoAuthentication)
            {
                return new(DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure,
                    selection.Value == Socks5AuthMethod.NoAcceptable ? "no acceptable authentication method" : $"unsupported method {selection.Value}");
            }

            return new(DialError.None, Socks5ReplyCode.Succeeded, null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>CONNECT and its reply, on a socket that has authenticated; the caller arms the deadline.</summary>
    private static async ValueTask<HandshakeOutcome> RequestAsync(LinuxSocket socket, Destination destination, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(600);
        try
        {
            using var abort = AbortOnCancel(socket, cancellationToken);
            var n = Socks5Codec.WriteRequest(buffer, Socks5Command.Connect, destination);
            var sent = await socket.SendAsync(buffer.AsMemory(0, n)).ConfigureAwait(false);
            if (sent.HasError)
            {
                return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, "closed during request", IsDropped(sent.Error));
            }

            // VER REP RSV ATYP plus the first address byte tell how long the rest of the reply is. The first read is
            // apart from the rest because only a connection that broke before any reply byte counts as stale.
            var first = await socket.ReceiveAsync(buffer.AsMemory(0, 5)).ConfigureAwait(false);
            if (first.HasError || first.Bytes == 0)
            {
                var error = first.HasError ? first.Error : Errno.EPIPE;
                return Broken(error, "reply") with { Stale = IsDropped(error) };
            }

            var read = await ReceiveExactlyAsync(socket, buffer, first.Bytes, 5 - first.Bytes).ConfigureAwait(false);
            if (read != Errno.None)
            {
                return Broken(read, "reply");
            }

            var rest = buffer[3] switch
            {
                (byte)Socks5AddressType.IPv4 => 4 + 2 - 1,
                (byte)Socks5AddressType.IPv6 => 16 + 2 - 1,
                (byte)Socks5AddressType.DomainName => buffer[4] + 2,
                _ => -1,
            };
            if (rest < 0)
            {
                // A failure reply with a bogus address type still carries a usable code.
                return buffer[1] != 0 && buffer[1] <= 8
                    ? new(DialError.UpstreamRejected, (Socks5ReplyCode)buffer[1], null)
                    : new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"bad address type {buffer[3]} in reply");
            }

            read = await ReceiveExactlyAsync(socket, buffer, 5, rest).ConfigureAwait(false);
            if (read != Errno.None)
            {
                return Broken(read, "reply");
            }

            var reply = Socks5Codec.ParseReply(buffer.AsSpan(0, 5 + rest));
            if (!reply.IsDone)
            {
                return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"bad reply ({reply.Error})");
            }

            return reply.Value.Code == Socks5ReplyCode.Succeeded
                ? new(DialError.None, Socks5ReplyCode.Succeeded, null)
                : new(DialError.UpstreamRejected, reply.Value.Code, null);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsDropped(Errno error) => error is Errno.EPIPE or Errno.ECONNRESET or Errno.ENOTCONN;

    private static HandshakeOutcome Broken(Errno error, string step)
        => error == Errno.ETIMEDOUT
            ? new(DialError.TimedOut, Socks5ReplyCode.TtlExpired, $"timed out waiting for the {step}")
            : new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"{step}: {(error == Errno.EPIPE ? "closed by upstream" : error.Describe())}");

    private static async ValueTask<bool> SendAsync(LinuxSocket socket, byte[] buffer, int count)
        => !(await socket.SendAsync(buffer.AsMemory(0, count)).ConfigureAwait(false)).HasError;

    /// <summary>Reads exactly <paramref name="count"/> bytes; EOF before that is reported as EPIPE.</summary>
    internal static async ValueTask<Errno> ReceiveExactlyAsync(LinuxSocket socket, byte[] buffer, int offset, int count)
    {
        var end = offset + count;
        while (offset < end)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(offset, end - offset)).ConfigureAwait(false);
            if (r.HasError)
            {
                return r.Error;
            }

            if (r.Bytes == 0)
            {
                return Errno.EPIPE;
            }

            offset += r.Bytes;
        }

        return Errno.None;
    }
}
