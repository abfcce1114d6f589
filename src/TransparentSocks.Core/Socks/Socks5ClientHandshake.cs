using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>What the client side of a handshake wants next.</summary>
public enum Socks5ClientStatus : byte
{
    /// <summary>Receive exactly <see cref="Socks5ClientStep.Count"/> more bytes, append them and feed again.</summary>
    NeedMoreData,

    /// <summary>Send the <see cref="Socks5ClientStep.Count"/> bytes just written to the output span, then receive afresh.</summary>
    Send,

    /// <summary>Greeting and authentication are done; the connection may wait here (a pool) until a request is written.</summary>
    Authenticated,

    /// <summary>
    /// A pipelined handshake's answer to a message already sent was consumed (<see cref="Socks5ClientStep.Count"/>
    /// bytes): receive afresh for the next answer, sending nothing.
    /// </summary>
    Continue,

    /// <summary>The server accepted the request; <see cref="Socks5ClientStep.Bound"/> is its BND address.</summary>
    Succeeded,

    /// <summary>The handshake is over and failed; <see cref="Socks5ClientStep.Failure"/> says how.</summary>
    Failed,
}

/// <summary>How a handshake failed, as the client's side of the protocol sees it.</summary>
public enum Socks5ClientFailure : byte
{
    None,

    /// <summary>The server broke the protocol: a bad version, a reply code no RFC defines, a bad address.</summary>
    Protocol,

    /// <summary>The server selected no method we offered (0xFF), or one we did not offer.</summary>
    NoAcceptableMethod,

    /// <summary>The server refused our username and password (RFC 1929 status other than 0).</summary>
    AuthRefused,

    /// <summary>The server answered the request with a failure reply; <see cref="Socks5ClientStep.Reply"/> is its code.</summary>
    Rejected,
}

/// <param name="Count">Bytes still needed (<see cref="Socks5ClientStatus.NeedMoreData"/>), bytes to send
/// (<see cref="Socks5ClientStatus.Send"/>), or bytes of the reply consumed (<see cref="Socks5ClientStatus.Succeeded"/>,
/// <see cref="Socks5ClientStatus.Continue"/>).</param>
public readonly record struct Socks5ClientStep(
    Socks5ClientStatus Status,
    int Count,
    Socks5ClientFailure Failure = Socks5ClientFailure.None,
    Socks5ReplyCode Reply = Socks5ReplyCode.Succeeded,
    Destination Bound = default,
    Socks5ParseError Error = Socks5ParseError.None)
{
    public bool IsFinal => Status is Socks5ClientStatus.Succeeded or Socks5ClientStatus.Failed;

    public override string ToString() => Failure switch
    {
        Socks5ClientFailure.None => Status.ToString(),
        Socks5ClientFailure.Protocol => $"protocol error ({Error})",
        Socks5ClientFailure.NoAcceptableMethod => "no acceptable authentication method",
        Socks5ClientFailure.AuthRefused => "credentials refused",
        _ => $"replied {Reply}",
    };
}

/// <summary>
/// The client side of RFC 1928 / RFC 1929 as a state machine with no I/O: it writes each message into a span the
/// caller sends, and is fed what the server answered until it reaches a final step. Every message is framed by the
/// codec, which says how many bytes it still needs, so a driver reads byte-exactly and whatever the destination
/// sends after the reply stays in the socket. One driver per transport (the dialer's event-loop socket, a blocking
/// socket in <c>doctor</c> and the tests) and nothing else knows the protocol.
/// </summary>
/// <remarks>
/// Greeting and request are separate steps so that a connection can be opened and authenticated ahead of time and
/// sit in a pool at <see cref="Socks5ClientStatus.Authenticated"/>; requests are never pipelined behind the
/// credentials, because a server that refuses them must not see a CONNECT.
/// <para>
/// <see cref="WritePipelined"/> saves a round trip where the upstream reads each message exactly (sing-box, danted,
/// TransparentSocks; not microsocks, which drops what follows the greeting in its buffer). It offers one method only,
/// so the server has no choice to make that the bytes already sent could contradict: "no authentication" followed
/// by the request, or username/password followed by the credentials (and the request after their answer).
/// </para>
/// </remarks>
public sealed class Socks5ClientHandshake
{
    private readonly ReadOnlyMemory<byte> _username;
    private readonly ReadOnlyMemory<byte> _password;
    private Phase _phase;
    private bool _pipelined;
    private bool _requestSent;

    /// <param name="username">Empty to offer only "no authentication"; otherwise 1 to 255 bytes, and so is the password.</param>
    public Socks5ClientHandshake(ReadOnlyMemory<byte> username = default, ReadOnlyMemory<byte> password = default)
    {
        if (!username.IsEmpty && (username.Length > 255 || password.Length is 0 or > 255))
        {
            throw new ArgumentException("a SOCKS5 username and password must each be 1-255 bytes (RFC 1929)", nameof(username));
        }

        _username = username;
        _password = password;
    }

    /// <summary>
    /// A handshake for a connection that authenticated earlier (a pooled one), ready for <see cref="WriteRequest"/>.
    /// </summary>
    public static Socks5ClientHandshake Resume() => new() { _phase = Phase.Authenticated };

    private enum Phase : byte
    {
        Start,
        MethodSelection,
        AuthReply,
        Authenticated,
        Reply,
        Done,
    }

    /// <summary>The longest message a client writes: credentials of 255 bytes each.</summary>
    public const int MaxOutputLength = Socks5Codec.MaxAuthRequestLength;

    /// <summary>The longest <see cref="WritePipelined"/> output: a one-method greeting and the larger of credentials and request.</summary>
    public const int MaxPipelinedLength = 3 + (Socks5Codec.MaxAuthRequestLength > Socks5Codec.MaxRequestLength ? Socks5Codec.MaxAuthRequestLength : Socks5Codec.MaxRequestLength);

    public bool IsAuthenticated => _phase == Phase.Authenticated;

    /// <summary>True between the request and its reply: a connection that breaks now before any reply byte was dropped by the server, not refused.</summary>
    public bool AwaitsReply => _phase == Phase.Reply;

    /// <summary>Writes the greeting: "no authentication", and username/password when credentials are set.</summary>
    public int WriteGreeting(Span<byte> output)
    {
        Expect(Phase.Start);
        ReadOnlySpan<Socks5AuthMethod> offer = _username.IsEmpty
            ? [Socks5AuthMethod.NoAuthentication]
            : [Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword];
        var n = Socks5Codec.WriteGreeting(output, offer);
        _phase = Phase.MethodSelection;
        return n;
    }

    /// <summary>
    /// Writes a one-method greeting and what follows it without waiting for the method: with credentials, the
    /// username/password (the request then goes after their answer, as without pipelining); without, the request
    /// itself when <paramref name="withRequest"/>. Feeding then answers <see cref="Socks5ClientStatus.Continue"/> for each
    /// reply to a message already sent.
    /// </summary>
    public int WritePipelined(Span<byte> output, bool withRequest, Socks5Command command = Socks5Command.Connect, Destination destination = default)
    {
        Expect(Phase.Start);
        _pipelined = true;
        _phase = Phase.MethodSelection;
        if (!_username.IsEmpty)
        {
            var greeting = Socks5Codec.WriteGreeting(output, [Socks5AuthMethod.UsernamePassword]);
            return greeting + Socks5Codec.WriteUsernamePassword(output[greeting..], _username.Span, _password.Span);
        }

        var n = Socks5Codec.WriteGreeting(output, [Socks5AuthMethod.NoAuthentication]);
        if (!withRequest)
        {
            // Nothing to pipeline: the answer to the greeting is the whole exchange, as without pipelining.
            _pipelined = false;
            return n;
        }

        _requestSent = true;
        return n + Socks5Codec.WriteRequest(output[n..], command, destination);
    }

    /// <summary>Writes the request, once <see cref="IsAuthenticated"/>.</summary>
    public int WriteRequest(Span<byte> output, Socks5Command command, Destination destination)
    {
        Expect(Phase.Authenticated);
        var n = Socks5Codec.WriteRequest(output, command, destination);
        _phase = Phase.Reply;
        return n;
    }

    /// <summary>
    /// Feeds the bytes received since the last <see cref="Socks5ClientStatus.Send"/> or request. The next message,
    /// if one is due, is written to <paramref name="output"/> (at least <see cref="MaxOutputLength"/> bytes).
    /// </summary>
    public Socks5ClientStep Feed(ReadOnlySpan<byte> received, Span<byte> output)
    {
        switch (_phase)
        {
            case Phase.MethodSelection:
                return OnMethodSelection(received, output);
            case Phase.AuthReply:
                return OnAuthReply(received);
            case Phase.Reply:
                return OnReply(received);
            case Phase.Authenticated:
                return new(Socks5ClientStatus.Authenticated, 0);
            default:
                throw new InvalidOperationException($"nothing to feed in phase {_phase}");
        }
    }

    private Socks5ClientStep OnMethodSelection(ReadOnlySpan<byte> received, Span<byte> output)
    {
        var selection = Socks5Codec.ParseMethodSelection(received);
        if (!selection.IsDone)
        {
            return Pending(selection);
        }

        if (_pipelined)
        {
            // One method was offered; any other answer (0xFF, or a method we did not offer) ends it.
            var offered = _username.IsEmpty ? Socks5AuthMethod.NoAuthentication : Socks5AuthMethod.UsernamePassword;
            if (selection.Value != offered)
            {
                _phase = Phase.Done;
                return new(Socks5ClientStatus.Failed, 0, Socks5ClientFailure.NoAcceptableMethod);
            }

            _phase = _requestSent ? Phase.Reply : Phase.AuthReply;
            return new(Socks5ClientStatus.Continue, selection.Consumed);
        }

        switch (selection.Value)
        {
            case Socks5AuthMethod.NoAuthentication:
                _phase = Phase.Authenticated;
                return new(Socks5ClientStatus.Authenticated, 0);
            case Socks5AuthMethod.UsernamePassword when !_username.IsEmpty:
                _phase = Phase.AuthReply;
                return new(Socks5ClientStatus.Send, Socks5Codec.WriteUsernamePassword(output, _username.Span, _password.Span));
            default:
                _phase = Phase.Done;
                return new(Socks5ClientStatus.Failed, 0, Socks5ClientFailure.NoAcceptableMethod);
        }
    }

    private Socks5ClientStep OnAuthReply(ReadOnlySpan<byte> received)
    {
        var auth = Socks5Codec.ParseAuthReply(received);
        if (!auth.IsDone)
        {
            return Pending(auth);
        }

        if (!auth.Value)
        {
            _phase = Phase.Done;
            return new(Socks5ClientStatus.Failed, 0, Socks5ClientFailure.AuthRefused);
        }

        _phase = Phase.Authenticated;
        return new(Socks5ClientStatus.Authenticated, 0);
    }

    private Socks5ClientStep OnReply(ReadOnlySpan<byte> received)
    {
        var reply = Socks5Codec.ParseReply(received);
        if (reply.IsDone)
        {
            _phase = Phase.Done;
            return reply.Value.Code == Socks5ReplyCode.Succeeded
                ? new(Socks5ClientStatus.Succeeded, reply.Consumed, Bound: reply.Value.Bound)
                : new(Socks5ClientStatus.Failed, reply.Consumed, Socks5ClientFailure.Rejected, reply.Value.Code);
        }

        // Some servers send a failure reply with a zeroed or bogus address type; its code is still the answer.
        if (reply.Error == Socks5ParseError.UnknownAddressType && IsFailureCode(received[1]))
        {
            _phase = Phase.Done;
            return new(Socks5ClientStatus.Failed, received.Length, Socks5ClientFailure.Rejected, (Socks5ReplyCode)received[1]);
        }

        return Pending(reply);
    }

    private Socks5ClientStep Pending<T>(ParseResult<T> result)
    {
        if (result.NeedsMoreData)
        {
            return new(Socks5ClientStatus.NeedMoreData, result.Needed);
        }

        _phase = Phase.Done;
        return new(Socks5ClientStatus.Failed, 0, Socks5ClientFailure.Protocol, Socks5ReplyCode.GeneralFailure, Error: result.Error);
    }

    private static bool IsFailureCode(byte code)
        => code is > (byte)Socks5ReplyCode.Succeeded and <= (byte)Socks5ReplyCode.AddressTypeNotSupported;

    private void Expect(Phase phase)
    {
        if (_phase != phase)
        {
            throw new InvalidOperationException($"the handshake is in phase {_phase}, not {phase}");
        }
    }
}
