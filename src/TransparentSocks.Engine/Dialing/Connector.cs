using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

/// <param name="Timeout">For the name resolution and for each connect attempt.</param>
/// <param name="Mark">SO_MARK on the socket (0 = none), so nft and policy routing can tell the proxy's own traffic.</param>
public readonly record struct ConnectOptions(TimeSpan Timeout, uint Mark);

/// <summary>
/// The one TCP connector under every dialer: resolve, try each address in turn, SO_MARK, a deadline per attempt,
/// cancellation, and errno mapped to a <see cref="DialError"/>. Whether the far end is a destination or an
/// upstream proxy is the caller's business; it reinterprets the errors if it must.
/// </summary>
internal static class Connector
{
    /// <summary>Resolves <paramref name="target"/> when it is a name (getaddrinfo, so /etc/hosts applies).</summary>
    public static async ValueTask<(IPAddress[] Addresses, DialResult Failure)> ResolveAsync(Destination target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!target.IsDomain)
        {
            return ([target.Address], default);
        }

        var (resolved, error) = await HostResolver.ResolveAsync(target.Host, timeout, cancellationToken).ConfigureAwait(false);
        return error is null ? (resolved, default) : ([], DialResult.Fail(DialError.ResolveFailed, error));
    }

    /// <summary>Connects to each address in turn until one answers; the last failure is returned when none does.</summary>
    public static async ValueTask<DialResult> ConnectAnyAsync(IReadOnlyList<IPAddress> addresses, int port, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
    {
        var last = DialResult.Fail(DialError.ResolveFailed, "no address to connect to");
        foreach (var address in addresses)
        {
            last = await ConnectAsync(new IPEndPoint(Unmap(address), port), loop, options, cancellationToken).ConfigureAwait(false);
            if (last.Succeeded || last.Error == DialError.ResourceExhausted)
            {
                // Out of descriptors, the next address would fail the same way.
                return last;
            }
        }

        return last;
    }

    /// <summary>One non-blocking connect with a deadline, which <paramref name="cancellationToken"/> can cut short (then it throws).</summary>
    public static async ValueTask<DialResult> ConnectAsync(IPEndPoint endPoint, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
    {
        var created = LinuxSocket.TryCreate(endPoint.AddressFamily, loop, out var opened);
        if (created != Errno.None)
        {
            return DialResult.Fail(Classify(created) == DialError.ResourceExhausted ? DialError.ResourceExhausted : DialError.Other, $"socket(): {created.Describe()}");
        }

        var socket = opened!;

        if (options.Mark != 0)
        {
            var markError = socket.SetMark(options.Mark);
            if (markError != Errno.None)
            {
                socket.Dispose();
                return DialResult.Fail(DialError.Other, $"SO_MARK 0x{options.Mark:x}: {markError.Describe()}");
            }
        }

        _ = socket.SetNoDelay();
        socket.SetTimeout(options.Timeout);
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
        return DialResult.Fail(Classify(error), $"connect {endPoint}: {error.Describe()}");
    }

    /// <summary>
    /// Resolves and connects to an upstream proxy. Whatever stops us reaching it, the destination was never tried:
    /// to the client it is the upstream that failed, so every failure but exhaustion and a timeout reads as
    /// UpstreamUnavailable. A timeout stays one (counted as <c>timeout</c>, 0x06 to a server client, a group
    /// member down with reason timeout): a blackholed upstream and a refusing one call for different fixes.
    /// </summary>
    public static async ValueTask<DialResult> ConnectToUpstreamAsync(Destination server, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
    {
        var (addresses, unresolved) = await ResolveAsync(server, options.Timeout, cancellationToken).ConfigureAwait(false);
        var connected = addresses.Length == 0
            ? unresolved
            : await ConnectAnyAsync(addresses, server.Port, loop, options, cancellationToken).ConfigureAwait(false);
        return connected.Succeeded || connected.Error is DialError.ResourceExhausted or DialError.TimedOut
            ? connected
            : DialResult.Fail(DialError.UpstreamUnavailable, connected.Detail ?? "unreachable");
    }

    public static DialError Classify(Errno error) => error switch
    {
        Errno.ECONNREFUSED => DialError.Refused,
        Errno.ENETUNREACH or Errno.ENETDOWN => DialError.NetworkUnreachable,
        Errno.EHOSTUNREACH or Errno.EHOSTDOWN => DialError.HostUnreachable,
        Errno.ETIMEDOUT => DialError.TimedOut,
        Errno.EMFILE or Errno.ENFILE or Errno.ENOBUFS or Errno.ENOMEM => DialError.ResourceExhausted,
        Errno.EACCES or Errno.EPERM => DialError.Denied,
        _ => DialError.Other,
    };

    /// <summary>Abort, not Dispose: the operation in flight returns ECANCELED and its owner then closes the socket.</summary>
    public static CancellationTokenRegistration AbortOnCancel(LinuxSocket socket, CancellationToken cancellationToken)
        => cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((LinuxSocket)s!).Abort(Errno.ECANCELED), socket)
            : default;

    public static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
