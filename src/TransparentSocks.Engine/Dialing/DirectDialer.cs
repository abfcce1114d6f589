using System.Net;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Dialing;

/// <summary>Connects straight to the destination, trying every resolved address in order.</summary>
public sealed class DirectDialer : IDialer
{
    private readonly TimeSpan _connectTimeout;
    private readonly uint _mark;

    public DirectDialer(TimeSpan connectTimeout, uint mark = 0)
    {
        _connectTimeout = connectTimeout;
        _mark = mark;
    }

    public string Name => "direct";

    /// <summary>Dials, connections and failures by reason; the pool counters stay zero.</summary>
    public DialerStats Stats { get; } = new();

    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = await DialCoreAsync(request, cancellationToken).ConfigureAwait(false);
        Stats.DialCompleted(result);
        return result;
    }

    private async ValueTask<DialResult> DialCoreAsync(DialRequest request, CancellationToken cancellationToken)
    {
        var destination = request.Destination;
        IPAddress[] addresses;
        if (destination.IsDomain)
        {
            var (resolved, error) = await HostResolver.ResolveAsync(destination.Host, _connectTimeout, cancellationToken).ConfigureAwait(false);
            if (error is not null)
            {
                return DialResult.Fail(DialError.ResolveFailed, error);
            }

            addresses = resolved;
        }
        else
        {
            addresses = [destination.Address];
        }

        var last = DialResult.Fail(DialError.Denied, $"{destination} is not allowed");
        var anyAllowed = false;
        foreach (var candidate in addresses)
        {
            var address = candidate.IsIPv4MappedToIPv6 ? candidate.MapToIPv4() : candidate;
            if (request.Policy is { } policy && policy.IsDenied(address, destination.Port))
            {
                continue;
            }

            anyAllowed = true;
            last = await ConnectAsync(new IPEndPoint(address, destination.Port), request, _connectTimeout, _mark).ConfigureAwait(false);
            if (last.Succeeded)
            {
                return last;
            }
        }

        return anyAllowed ? last : DialResult.Fail(DialError.Denied, $"{destination} resolves only to denied addresses");
    }

    /// <summary>One non-blocking connect with a deadline.</summary>
    internal static async ValueTask<DialResult> ConnectAsync(IPEndPoint endPoint, DialRequest request, TimeSpan timeout, uint mark)
    {
        LinuxSocket socket;
        try
        {
            socket = LinuxSocket.Create(endPoint.AddressFamily, request.Loop);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return DialResult.Fail(DialError.ResourceExhausted, $"socket(): {ex.Message}");
        }

        if (mark != 0)
        {
            var markError = socket.SetMark(mark);
            if (markError != Errno.None)
            {
                socket.Dispose();
                return DialResult.Fail(DialError.Other, $"SO_MARK {mark:x}: {markError.Describe()}");
            }
        }

        _ = socket.SetNoDelay();
        socket.SetTimeout(timeout);
        var error = await socket.ConnectAsync(endPoint).ConfigureAwait(false);
        socket.DeadlineMs = 0;
        if (error == Errno.None)
        {
            return DialResult.Connected(socket, endPoint);
        }

        socket.Dispose();
        var kind = error switch
        {
            Errno.ECONNREFUSED => DialError.Refused,
            Errno.ENETUNREACH or Errno.ENETDOWN => DialError.NetworkUnreachable,
            Errno.EHOSTUNREACH or Errno.EHOSTDOWN => DialError.HostUnreachable,
            Errno.ETIMEDOUT => DialError.TimedOut,
            Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM => DialError.ResourceExhausted,
            Errno.EACCES or Errno.EPERM => DialError.Denied,
            _ => DialError.Other,
        };
        return DialResult.Fail(kind, $"connect {endPoint}: {error.Describe()}");
    }
}
