using System.Runtime.CompilerServices;
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
    public static ValueTask<DialResult> ConnectAnyAsync(IReadOnlyList<IPAddress> addresses, int port, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
        => ConnectEachAsync(addresses, null, port, loop, options, toUpstream: false, cancellationToken);

    /// <summary>
    /// Resolves and connects to an upstream proxy. Whatever stops us reaching it, the destination was never tried:
    /// to the client it is the upstream that failed, so every failure but exhaustion and a timeout reads as
    /// UpstreamUnavailable. A timeout stays one (counted as <c>timeout</c>, 0x06 to a server client, a group
    /// member down with reason timeout): a blackholed upstream and a refusing one call for different fixes.
    /// </summary>
    public static ValueTask<DialResult> ConnectToUpstreamAsync(Destination server, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
        => server.IsDomain
            ? ResolveAndConnectToUpstreamAsync(server, loop, options, cancellationToken)
            : ConnectEachAsync(null, server.Address, server.Port, loop, options, toUpstream: true, cancellationToken);

    private static async ValueTask<DialResult> ResolveAndConnectToUpstreamAsync(Destination server, Loop loop, ConnectOptions options, CancellationToken cancellationToken)
    {
        var (addresses, unresolved) = await ResolveAsync(server, options.Timeout, cancellationToken).ConfigureAwait(false);
        return addresses.Length == 0
            ? AsUpstreamFailure(unresolved)
            : await ConnectEachAsync(addresses, null, server.Port, loop, options, toUpstream: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every connect goes through this one frame: each async frame that suspends costs a box of a few hundred bytes
    /// per connection, and a wrapper per step was most of what a dial allocated. Pooled, so a steady stream of
    /// dials reuses the box. Either <paramref name="addresses"/> or <paramref name="only"/> is given.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<DialResult> ConnectEachAsync(
        IReadOnlyList<IPAddress>? addresses, IPAddress? only, int port, Loop loop, ConnectOptions options, bool toUpstream, CancellationToken cancellationToken)
    {
        var last = DialResult.Fail(DialError.ResolveFailed, "no address to connect to");
        var count = addresses?.Count ?? 1;
        for (var i = 0; i < count; i++)
        {
            var endPoint = new IPEndPoint(Unmap(addresses is null ? only! : addresses[i]), port);
            last = Open(endPoint, loop, options, out var socket);
            if (socket is not null)
            {
                // The wait is in this frame rather than in LinuxSocket.ConnectAsync's: one box per dial fewer.
                var error = Errno.None;
                using (AbortOnCancel(socket, cancellationToken))
                {
                    var tick = socket.Writable.Tick;
                    error = socket.BeginConnect(endPoint);
                    while (error == Errno.EINPROGRESS)
                    {
                        var waited = await socket.Writable.WaitAsync(tick).ConfigureAwait(false);
                        tick = socket.Writable.Tick;
                        error = waited != Errno.None ? waited : socket.ConnectProgress();
                    }
                }

                last = Settle(socket, endPoint, error, cancellationToken);
            }

            if (last.Succeeded || last.Error == DialError.ResourceExhausted)
            {
                // Out of descriptors, the next address would fail the same way.
                break;
            }
        }

        return toUpstream ? AsUpstreamFailure(last) : last;
    }

    /// <summary>A socket ready to connect (marked, no delay, deadline armed), or the failure and no socket.</summary>
    private static DialResult Open(IPEndPoint endPoint, Loop loop, ConnectOptions options, out LinuxSocket? socket)
    {
        socket = null;
        var created = LinuxSocket.TryCreate(endPoint.AddressFamily, loop, out var opened);
        if (created != Errno.None)
        {
            return DialResult.Fail(Classify(created) == DialError.ResourceExhausted ? DialError.ResourceExhausted : DialError.Other, $"socket(): {created.Describe()}");
        }

        if (options.Mark != 0)
        {
            var markError = opened!.SetMark(options.Mark);
            if (markError != Errno.None)
            {
                opened.Dispose();
                return DialResult.Fail(DialError.Other, $"SO_MARK 0x{options.Mark:x}: {markError.Describe()}");
            }
        }

        _ = opened!.SetNoDelay();
        opened.SetTimeout(options.Timeout);
        socket = opened;
        return default;
    }

    /// <summary>The connect's verdict; the socket is kept on success and closed otherwise. Throws if the caller cancelled.</summary>
    private static DialResult Settle(LinuxSocket socket, IPEndPoint endPoint, Errno error, CancellationToken cancellationToken)
    {
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

    private static DialResult AsUpstreamFailure(DialResult connected)
        => connected.Succeeded || connected.Error is DialError.ResourceExhausted or DialError.TimedOut
            ? connected
            : DialResult.Fail(DialError.UpstreamUnavailable, connected.Detail ?? "unreachable");

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
