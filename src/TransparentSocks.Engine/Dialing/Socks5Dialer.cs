using System.Buffers;
using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Socks;

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
}

/// <summary>
/// The SOCKS5 client: connects to the upstream, negotiates no-auth or username/password, sends CONNECT and
/// reads the reply byte-exactly, so whatever the destination sends first stays in the socket for the relay.
/// </summary>
public sealed class Socks5Dialer : IDialer
{
    private readonly Socks5DialerSettings _settings;
    private readonly byte[]? _username;
    private readonly byte[]? _password;

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
    }

    public string Name { get; }

    public Destination Server => _settings.Server;

    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        var destination = request.Destination;
        if (request.Policy is { } policy)
        {
            if (destination.IsDomain ? policy.IsDeniedName(destination.Host, destination.Port) : policy.IsDenied(destination.Address, destination.Port))
            {
                return DialResult.Fail(DialError.Denied, $"{destination} is not allowed");
            }
        }

        var connected = await ConnectToUpstreamAsync(request, cancellationToken).ConfigureAwait(false);
        if (!connected.Succeeded)
        {
            return connected;
        }

        var socket = connected.Socket!;
        socket.SetTimeout(_settings.HandshakeTimeout);
        var result = await HandshakeAsync(socket, destination).ConfigureAwait(false);
        socket.DeadlineMs = 0;
        if (result.Error != DialError.None)
        {
            socket.Dispose();
            return result.Error == DialError.UpstreamRejected
                ? DialResult.Fail(DialError.UpstreamRejected, $"upstream {_settings.Server} replied {result.Reply} to CONNECT {destination}", result.Reply)
                : DialResult.Fail(result.Error, $"upstream {_settings.Server}: {result.Detail}");
        }

        return DialResult.Connected(socket, connected.Remote!);
    }

    private async ValueTask<DialResult> ConnectToUpstreamAsync(DialRequest request, CancellationToken cancellationToken)
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

        var last = default(DialResult);
        foreach (var address in addresses)
        {
            last = await DirectDialer.ConnectAsync(new IPEndPoint(address, _settings.Server.Port), request, _settings.ConnectTimeout, _settings.Mark)
                .ConfigureAwait(false);
            if (last.Succeeded)
            {
                return last;
            }
        }

        return DialResult.Fail(last.Error == DialError.ResourceExhausted ? DialError.ResourceExhausted : DialError.UpstreamUnavailable, last.Detail ?? "no address");
    }

    private readonly record struct HandshakeOutcome(DialError Error, Socks5ReplyCode Reply, string? Detail);

    private async ValueTask<HandshakeOutcome> HandshakeAsync(LinuxSocket socket, Destination destination)
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

            n = Socks5Codec.WriteRequest(buffer, Socks5Command.Connect, destination);
            if (!await SendAsync(socket, buffer, n).ConfigureAwait(false))
            {
                return new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, "closed during request");
            }

            // VER REP RSV ATYP plus the first address byte tell how long the rest of the reply is.
            read = await ReceiveExactlyAsync(socket, buffer, 0, 5).ConfigureAwait(false);
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
