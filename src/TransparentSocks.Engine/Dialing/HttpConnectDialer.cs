using System.Buffers;
using System.Text;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Http;
using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

/// <summary>An HTTP CONNECT upstream (squid, tinyproxy, a corporate proxy); with a username, Basic Proxy-Authorization is sent with every CONNECT.</summary>
public sealed record HttpConnectDialerSettings : UpstreamDialerSettings;

/// <summary>
/// An HTTP/1.1 CONNECT upstream: the same connector (resolve, each address, SO_MARK, deadline) as the SOCKS5 dialer,
/// then a CONNECT and a response head read exactly to its empty line, so the tunnel's first bytes stay in the socket
/// for the relay. HTTP proxies carry no UDP: a UDP flow through one fails, and is counted.
/// </summary>
public sealed class HttpConnectDialer : IProbeableDialer
{
    private readonly HttpConnectDialerSettings _settings;
    private readonly byte[] _username = [];
    private readonly byte[] _password = [];

    public HttpConnectDialer(HttpConnectDialerSettings settings)
    {
        _settings = settings;
        if (settings.Username is not null)
        {
            _username = Encoding.UTF8.GetBytes(settings.Username);
            _password = Encoding.UTF8.GetBytes(settings.Password ?? string.Empty);
            if (_username.Length == 0 || _username.Contains((byte)':'))
            {
                throw new ArgumentException("an HTTP proxy username must be non-empty and without ':' (Basic auth joins it with the password by one)", nameof(settings));
            }
        }

        Name = $"http://{settings.Server}";
    }

    public string Name { get; }

    /// <summary>Names go to the proxy as they are, in the CONNECT line.</summary>
    public bool ResolvesLocally => false;

    public DialerStats Stats { get; } = new();

    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = await DialCoreAsync(request.Destination, request.Loop, cancellationToken).ConfigureAwait(false);
        Stats.DialCompleted(result);
        return result;
    }

    public bool CarriesUdp => false;

    public ValueTask<UdpAssociateResult> AssociateAsync(UdpRuntime runtime, UdpStats stats, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = UdpAssociateResult.Fail(DialError.UpstreamRejected, $"upstream {_settings.Server} is an HTTP proxy, which carries no UDP");
        Stats.AssociationCompleted(result);
        return ValueTask.FromResult(result);
    }

    /// <summary>
    /// A health check: the TCP connect and, with a target, a CONNECT to it (an HTTP proxy has no handshake of its
    /// own, so without a target the connect is all there is to check).
    /// </summary>
    public async ValueTask<(HealthReason Reason, string? Detail)> ProbeAsync(Loop loop, Destination? target, CancellationToken cancellationToken)
    {
        if (target is not { } to)
        {
            var connected = await Socks5Dialer.ProbeConnectAsync(_settings.Server, loop, _settings.Connect, cancellationToken).ConfigureAwait(false);
            connected.Socket?.Dispose();
            return (connected.Reason, connected.Detail);
        }

        var result = await DialCoreAsync(to, loop, cancellationToken).ConfigureAwait(false);
        result.Socket?.Dispose();
        return result.Error switch
        {
            DialError.None => (HealthReason.None, null),
            DialError.UpstreamUnavailable => (HealthReason.Refused, result.Detail),
            DialError.UpstreamAuthFailed => (HealthReason.Auth, result.Detail),
            DialError.UpstreamRejected => (HealthReason.Target, result.Detail),
            _ => (HealthReason.Handshake, result.Detail),
        };
    }

    private async ValueTask<DialResult> DialCoreAsync(Destination destination, Loop loop, CancellationToken cancellationToken)
    {
        var connected = await Connector.ConnectToUpstreamAsync(_settings.Server, loop, _settings.Connect, cancellationToken).ConfigureAwait(false);
        if (!connected.Succeeded)
        {
            return connected;
        }

        var socket = connected.Socket!;
        socket.SetTimeout(_settings.HandshakeTimeout);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(HttpConnectCodec.MaxHeadLength, HttpConnectCodec.MaxRequestLength(_username.Length, _password.Length)));
        try
        {
            HttpConnectParse response;
            using (Connector.AbortOnCancel(socket, cancellationToken))
            {
                response = await ExchangeAsync(socket, destination, buffer).ConfigureAwait(false);
            }

            socket.DeadlineMs = 0;
            if (cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (response.Status == HttpConnectStatus.Done && response.Response.Established)
            {
                return connected;
            }

            socket.Dispose();
            if (response.Status != HttpConnectStatus.Done)
            {
                return DialResult.Fail(
                    response.Error == "timeout" ? DialError.TimedOut : DialError.UpstreamProtocolError, $"upstream {_settings.Server}: {response.Error}");
            }

            // No tunnel yet, so only the proxy can be answering: a 401 is its refusal of our credentials too (tinyproxy
            // asks with 407 but refuses wrong ones with 401), not the destination's.
            var status = response.Response.Status;
            return status is 407 or 401
                ? DialResult.Fail(DialError.UpstreamAuthFailed, status == 407
                    ? $"upstream {_settings.Server} answered 407 (proxy authentication required)"
                    : $"upstream {_settings.Server} answered 401 (credentials refused)")
                : DialResult.Fail(DialError.UpstreamRejected, $"upstream {_settings.Server} answered {status} to CONNECT {destination}", ReplyCodeOf(status));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask<HttpConnectParse> ExchangeAsync(LinuxSocket socket, Destination destination, byte[] buffer)
    {
        var length = HttpConnectCodec.WriteRequest(buffer, destination, _username, _password);
        var sent = await socket.SendAsync(buffer.AsMemory(0, length)).ConfigureAwait(false);
        if (sent.HasError)
        {
            return HttpConnectParse.Invalid(sent.Error == Errno.ETIMEDOUT ? "timeout" : $"CONNECT: {sent.Error.Describe()}");
        }

        var have = 0;
        while (true)
        {
            var parsed = HttpConnectCodec.ParseResponse(buffer.AsSpan(0, have));
            if (parsed.Status != HttpConnectStatus.NeedMoreData)
            {
                return parsed;
            }

            // Only as many bytes as could end the head: whatever follows it is the destination's, for the relay.
            var want = HttpConnectCodec.NextReadLength(buffer.AsSpan(0, have));
            var received = await socket.ReceiveAsync(buffer.AsMemory(have, want)).ConfigureAwait(false);
            if (received.HasError || received.Bytes == 0)
            {
                return HttpConnectParse.Invalid(received.Error == Errno.ETIMEDOUT ? "timeout" : received.HasError ? $"response: {received.Error.Describe()}" : "closed before answering CONNECT");
            }

            have += received.Bytes;
        }
    }

    /// <summary>The SOCKS5 reply a server-mode client gets for the proxy's refusal: the nearest in meaning.</summary>
    internal static Socks5ReplyCode ReplyCodeOf(int status) => status switch
    {
        403 or 405 => Socks5ReplyCode.NotAllowedByRuleset,
        404 or 502 or 503 => Socks5ReplyCode.HostUnreachable,
        504 => Socks5ReplyCode.TtlExpired,
        _ => Socks5ReplyCode.GeneralFailure,
    };
}
