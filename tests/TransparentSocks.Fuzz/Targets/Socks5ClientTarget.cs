using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// What a SOCKS5 server sends a client. The first byte picks whether the client has credentials; the rest is the
/// server's byte stream. The client-side parsers are checked on it, and <see cref="Socks5ClientHandshake"/> is driven
/// through it byte-exactly, as the dialer does, checking that it never asks past a message and always consumes what
/// it asked for.
/// </summary>
public static class Socks5ClientTarget
{
    private static readonly byte[] Username = "fuzz"u8.ToArray();
    private static readonly byte[] Password = "hunter2"u8.ToArray();
    private static readonly Destination Target = Destination.FromHost("example.com", 443);

    private enum Message
    {
        MethodSelection,
        AuthReply,
        Reply,
    }

    public static void Run(byte[] data)
    {
        if (data.Length == 0)
        {
            return;
        }

        var withCredentials = (data[0] & 1) == 1;
        ReadOnlySpan<byte> stream = data.AsSpan(1);
        MethodSelection(stream);
        AuthReply(stream);
        Reply(stream);
        Drive(withCredentials, stream);
    }

    private static void MethodSelection(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("method selection", Socks5Codec.ParseMethodSelection, input, 2);
        if (result.IsDone)
        {
            Span<byte> written = stackalloc byte[2];
            Socks5Codec.WriteMethodSelection(written, result.Value);
            InvariantViolationException.Check(written.SequenceEqual(input[..2]), "method selection: written back it is other bytes");
        }
    }

    private static void AuthReply(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("auth reply", Socks5Codec.ParseAuthReply, input, 2);
        if (result.IsDone)
        {
            InvariantViolationException.Check(result.Value == (input[1] == 0), $"auth reply: status {input[1]} read as success={result.Value}");
            Span<byte> written = stackalloc byte[2];
            Socks5Codec.WriteAuthReply(written, result.Value);
            var again = Socks5Codec.ParseAuthReply(written);
            InvariantViolationException.Check(again.IsDone && again.Value == result.Value, $"auth reply: {result} written back parses as {again}");
        }
    }

    private static void Reply(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("reply", Socks5Codec.ParseReply, input, Socks5Codec.MaxReplyLength);
        if (!result.IsDone)
        {
            return;
        }

        var reply = result.Value;
        var written = new byte[Socks5Codec.MaxReplyLength];
        var length = Socks5Codec.WriteReply(written, reply.Code, reply.Bound);
        var again = Socks5Codec.ParseReply(written.AsSpan(0, length));

        // The writer sends an IPv4-mapped address as the IPv4 address it stands for.
        var bound = reply.Bound.Address is { IsIPv4MappedToIPv6: true } mapped
            ? Destination.FromAddress(mapped.MapToIPv4(), reply.Bound.Port)
            : reply.Bound;
        InvariantViolationException.Check(again.IsDone && again.Consumed == length && again.Value == new Socks5Reply(reply.Code, bound),
            $"reply: {reply} written back parses as {again}");
    }

    private static void Drive(bool withCredentials, ReadOnlySpan<byte> stream)
    {
        var handshake = withCredentials ? new Socks5ClientHandshake(Username, Password) : new Socks5ClientHandshake();
        var output = new byte[Socks5ClientHandshake.MaxOutputLength];
        var greetingLength = handshake.WriteGreeting(output);
        var greeting = Socks5Codec.ParseGreeting(output.AsSpan(0, greetingLength));
        InvariantViolationException.Check(greeting.IsDone && greeting.Consumed == greetingLength
            && greeting.Value.Methods.Contains(Socks5AuthMethod.UsernamePassword) == withCredentials,
            $"handshake: its greeting parses as {greeting}");

        var message = Message.MethodSelection;
        var received = new List<byte>();
        var position = 0;
        for (var steps = 0; ; steps++)
        {
            InvariantViolationException.Check(steps < 2 * Socks5Codec.MaxReplyLength, "handshake: no end after as many steps as a reply has bytes");
            var step = handshake.Feed(received.ToArray(), output);
            switch (step.Status)
            {
                case Socks5ClientStatus.NeedMoreData:
                    var limit = message == Message.Reply ? Socks5Codec.MaxReplyLength : 2;
                    InvariantViolationException.Check(step.Count >= 1 && received.Count + step.Count <= limit,
                        $"handshake: after {received.Count} bytes of the {message} it asks for {step.Count} more (at most {limit} in all)");
                    if (position + step.Count > stream.Length)
                    {
                        return; // the server closed the connection mid-message
                    }

                    received.AddRange(stream.Slice(position, step.Count));
                    position += step.Count;
                    break;
                case Socks5ClientStatus.Send:
                    InvariantViolationException.Check(message == Message.MethodSelection && withCredentials && received.Count == 2 && received[1] == (byte)Socks5AuthMethod.UsernamePassword,
                        $"handshake: sends after {received.Count} bytes of the {message}");
                    var credentials = Socks5Codec.ParseUsernamePassword(output.AsSpan(0, step.Count));
                    InvariantViolationException.Check(credentials.IsDone && credentials.Consumed == step.Count
                        && credentials.Value.GetUsername(output).SequenceEqual(Username) && credentials.Value.GetPassword(output).SequenceEqual(Password),
                        $"handshake: the {step.Count} bytes it sends are not our credentials ({credentials})");
                    message = Message.AuthReply;
                    received.Clear();
                    break;
                case Socks5ClientStatus.Authenticated:
                    InvariantViolationException.Check(message != Message.Reply && handshake.IsAuthenticated && received.Count == 2,
                        $"handshake: authenticated after {received.Count} bytes of the {message}");
                    InvariantViolationException.Check(message == Message.AuthReply ? received[1] == 0 : received[1] == (byte)Socks5AuthMethod.NoAuthentication,
                        $"handshake: authenticated on {message} byte {received[1]}");
                    var requestLength = handshake.WriteRequest(output, Socks5Command.Connect, Target);
                    var request = Socks5Codec.ParseRequest(output.AsSpan(0, requestLength));
                    InvariantViolationException.Check(request.IsDone && request.Value == new Socks5Request(Socks5Command.Connect, Target), $"handshake: its request parses as {request}");
                    InvariantViolationException.Check(handshake.AwaitsReply, "handshake: does not await the reply to its request");
                    message = Message.Reply;
                    received.Clear();
                    break;
                case Socks5ClientStatus.Succeeded:
                    InvariantViolationException.Check(message == Message.Reply && step.Count == received.Count,
                        $"handshake: succeeded consuming {step.Count} of the {received.Count} bytes of the {message} it asked for");
                    var reply = Socks5Codec.ParseReply(received.ToArray());
                    InvariantViolationException.Check(reply.IsDone && reply.Value.Code == Socks5ReplyCode.Succeeded && reply.Value.Bound == step.Bound,
                        $"handshake: succeeded with {step.Bound} on a reply that parses as {reply}");
                    return;
                case Socks5ClientStatus.Failed:
                    InvariantViolationException.Check(step.Failure != Socks5ClientFailure.None && step.Count <= received.Count,
                        $"handshake: failed ({step}) consuming {step.Count} of {received.Count} bytes");
                    InvariantViolationException.Check(step.Failure != Socks5ClientFailure.Protocol || step.Error != Socks5ParseError.None,
                        "handshake: a protocol failure without a parse error");
                    InvariantViolationException.Check(step.Failure != Socks5ClientFailure.Rejected || (message == Message.Reply && step.Reply != Socks5ReplyCode.Succeeded),
                        $"handshake: rejected with {step.Reply} on the {message}");
                    InvariantViolationException.Check(step.Failure != Socks5ClientFailure.AuthRefused || (message == Message.AuthReply && received[1] != 0),
                        $"handshake: credentials refused on the {message}");
                    return;
                default:
                    throw new InvariantViolationException($"handshake: step {step.Status} is not one of the five");
            }
        }
    }
}
