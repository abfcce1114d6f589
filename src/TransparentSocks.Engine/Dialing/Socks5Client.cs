using System.Buffers;
using System.Runtime.CompilerServices;
using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Dialing;

/// <param name="Stale">The connection broke before the request got any answer (send failed, or EOF/RST before the
/// first reply byte): on a pooled connection that means the upstream had dropped it, not the destination.</param>
/// <param name="Bound">The server's BND address on success (for UDP ASSOCIATE, where datagrams go).</param>
internal readonly record struct Socks5Outcome(DialError Error, Socks5ReplyCode Reply, string? Detail, bool Stale = false, Destination Bound = default)
{
    public bool Ok => Error == DialError.None;

    public static Socks5Outcome Success(Destination bound = default) => new(DialError.None, Socks5ReplyCode.Succeeded, null, Bound: bound);
}

/// <summary>
/// Drives <see cref="Socks5ClientHandshake"/> over an event-loop socket: sends what it writes and receives exactly
/// what the codec says it still needs, so nothing after the reply is read. The caller arms the socket's deadline.
/// </summary>
internal static class Socks5Client
{
    private const int InputAt = Socks5ClientHandshake.MaxPipelinedLength;
    private const int BufferSize = InputAt + Socks5Codec.MaxReplyLength;

    /// <summary>Greeting and, when the server asks for it, username/password.</summary>
    public static ValueTask<Socks5Outcome> AuthenticateAsync(LinuxSocket socket, Socks5ClientHandshake handshake, bool pipelined = false)
        => ExchangeAsync(socket, handshake, greeting: true, default, default, pipelined: pipelined);

    /// <summary>A request and its reply, on a connection that has authenticated.</summary>
    public static ValueTask<Socks5Outcome> RequestAsync(LinuxSocket socket, Socks5Command command, Destination destination)
        => ExchangeAsync(socket, Socks5ClientHandshake.Resume(), greeting: false, command, destination);

    /// <summary>
    /// Greeting, username/password when asked, then the request and its reply: a fresh connection's whole handshake.
    /// <paramref name="authenticated"/> runs once the server has accepted us, before the request is sent.
    /// </summary>
    public static ValueTask<Socks5Outcome> HandshakeAsync(
        LinuxSocket socket, Socks5ClientHandshake handshake, Socks5Command command, Destination destination, Action? authenticated = null, bool pipelined = false)
        => ExchangeAsync(socket, handshake, greeting: true, command, destination, thenRequest: true, authenticated, pipelined);

    // One frame for the whole exchange, pooled: every dial runs it, and each async frame that suspends costs a box
    // of a few hundred bytes per connection (a wrapper per step was a third of what a dial allocated).
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<Socks5Outcome> ExchangeAsync(
        LinuxSocket socket, Socks5ClientHandshake handshake, bool greeting, Socks5Command command, Destination destination, bool thenRequest = false,
        Action? authenticated = null, bool pipelined = false)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var toSend = !greeting ? handshake.WriteRequest(buffer, command, destination)
                : pipelined ? handshake.WritePipelined(buffer, thenRequest, command, destination)
                : handshake.WriteGreeting(buffer);
            var step = greeting ? "greeting" : "reply";
            while (true)
            {
                var sent = await socket.SendAsync(buffer.AsMemory(0, toSend)).ConfigureAwait(false);
                if (sent.HasError)
                {
                    return Broken(sent.Error, step) with { Stale = handshake.AwaitsReply && IsDropped(sent.Error) };
                }

                var have = 0;
                while (true)
                {
                    var next = handshake.Feed(buffer.AsSpan(InputAt, have), buffer);
                    switch (next.Status)
                    {
                        case Socks5ClientStatus.NeedMoreData:
                            // Waited for here, not in LinuxSocket.ReceiveAsync: one box per exchange fewer.
                            var tick = socket.Readable.Tick;
                            var received = socket.TryReceive(buffer.AsSpan(InputAt + have, next.Count));
                            if (received.HasError && received.Error is Errno.EAGAIN or Errno.EINTR)
                            {
                                var waited = received.Error == Errno.EAGAIN ? await socket.Readable.WaitAsync(tick).ConfigureAwait(false) : Errno.None;
                                if (waited == Errno.None)
                                {
                                    continue;
                                }

                                received = SocketResult.Fail(waited);
                            }

                            if (received.HasError || received.Bytes == 0)
                            {
                                var error = received.HasError ? received.Error : Errno.EPIPE;
                                return Broken(error, step) with { Stale = handshake.AwaitsReply && have == 0 && IsDropped(error) };
                            }

                            have += received.Bytes;
                            continue;
                        case Socks5ClientStatus.Send:
                            toSend = next.Count;
                            step = "authentication";
                            break;
                        case Socks5ClientStatus.Continue:
                            // Pipelined: the answer to the greeting is in; the next one answers what went with it.
                            have = 0;
                            if (handshake.AwaitsReply)
                            {
                                authenticated?.Invoke();
                                step = "reply";
                            }
                            else
                            {
                                step = "authentication";
                            }

                            continue;
                        case Socks5ClientStatus.Authenticated when thenRequest:
                            authenticated?.Invoke();
                            toSend = handshake.WriteRequest(buffer, command, destination);
                            step = "reply";
                            thenRequest = false;
                            break;
                        case Socks5ClientStatus.Authenticated:
                            return Socks5Outcome.Success();
                        case Socks5ClientStatus.Succeeded:
                            return Socks5Outcome.Success(next.Bound);
                        default:
                            return Failed(next);
                    }

                    break;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Socks5Outcome Failed(Socks5ClientStep step) => step.Failure switch
    {
        Socks5ClientFailure.Rejected => new(DialError.UpstreamRejected, step.Reply, null),
        Socks5ClientFailure.NoAcceptableMethod or Socks5ClientFailure.AuthRefused => new(DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure, step.ToString()),
        _ => new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, step.ToString()),
    };

    private static bool IsDropped(Errno error) => error is Errno.EPIPE or Errno.ECONNRESET or Errno.ENOTCONN;

    private static Socks5Outcome Broken(Errno error, string step)
        => error == Errno.ETIMEDOUT
            ? new(DialError.TimedOut, Socks5ReplyCode.TtlExpired, $"timed out waiting for the {step}")
            : new(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure, $"{step}: {(error == Errno.EPIPE ? "closed by upstream" : error.Describe())}");
}
