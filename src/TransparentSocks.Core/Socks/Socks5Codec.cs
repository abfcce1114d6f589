using System.Buffers.Binary;
using System.Net.Sockets;
using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>
/// The SOCKS5 wire format (RFC 1928) and its username/password sub-negotiation (RFC 1929), spans in and results out.
/// A server parses what a client sends and writes what a server sends; a client does the opposite.
/// </summary>
/// <remarks>
/// Parsers fail as soon as the bytes seen so far cannot start a valid message, so a server never waits on garbage.
/// A complete message reports its exact length and leaves what follows alone, because clients pipeline
/// greeting, credentials and request in one write.
/// Writers return the bytes written and throw <see cref="ArgumentException"/> if the span is too small
/// or a field cannot be encoded.
/// </remarks>
public static class Socks5Codec
{
    /// <summary>VER, NMETHODS and 255 methods.</summary>
    public const int MaxGreetingLength = 2 + 255;

    /// <summary>VER, ULEN, 255 username bytes, PLEN, 255 password bytes.</summary>
    public const int MaxAuthRequestLength = 1 + 1 + 255 + 1 + 255;

    /// <summary>VER, CMD, RSV, ATYP, a length byte, 255 name bytes, PORT.</summary>
    public const int MaxRequestLength = 3 + Socks5Address.MaxLength;

    /// <summary>VER, REP, RSV, ATYP, a length byte, 255 name bytes, PORT.</summary>
    public const int MaxReplyLength = 3 + Socks5Address.MaxLength;

    /// <summary>RSV, RSV, FRAG, ATYP, a length byte, 255 name bytes, PORT.</summary>
    public const int MaxUdpHeaderLength = 3 + Socks5Address.MaxLength;

    private const byte Version = 0x05;
    private const byte AuthVersion = 0x01;
    private const byte AuthSuccess = 0x00;
    private const byte AuthFailure = 0x01;

    /// <summary>Parses VER NMETHODS METHODS.</summary>
    public static ParseResult<Socks5Greeting> ParseGreeting(ReadOnlySpan<byte> input)
    {
        if (ParseOpening<Socks5Greeting>(input, Version, Socks5ParseError.BadVersion, Socks5ParseError.NoMethods, shortest: 3) is { } opening)
        {
            return opening;
        }

        var count = input[1];

        var methods = input.Slice(2, Math.Min(count, input.Length - 2));
        if (methods.Contains((byte)Socks5AuthMethod.NoAcceptable))
        {
            return ParseResult<Socks5Greeting>.Invalid(Socks5ParseError.BadMethod);
        }

        if (methods.Length < count)
        {
            return ParseResult<Socks5Greeting>.NeedMore(input.Length, 2 + count);
        }

        var set = Socks5MethodSet.Empty;
        foreach (var method in methods)
        {
            set = set.With((Socks5AuthMethod)method);
        }

        return ParseResult<Socks5Greeting>.Done(new Socks5Greeting(set), 2 + count);
    }

    /// <summary>Parses VER ULEN UNAME PLEN PASSWD (RFC 1929); the credentials are ranges into <paramref name="input"/>.</summary>
    public static ParseResult<Socks5Credentials> ParseUsernamePassword(ReadOnlySpan<byte> input)
    {
        if (ParseOpening<Socks5Credentials>(input, AuthVersion, Socks5ParseError.BadAuthVersion, Socks5ParseError.EmptyUsername, shortest: 5) is { } opening)
        {
            return opening;
        }

        var usernameLength = input[1];

        var passwordLengthAt = 2 + usernameLength;
        if (input.Length <= passwordLengthAt)
        {
            // The password's length byte and at least one password byte.
            return ParseResult<Socks5Credentials>.NeedMore(input.Length, passwordLengthAt + 2);
        }

        var passwordLength = input[passwordLengthAt];
        if (passwordLength == 0)
        {
            return ParseResult<Socks5Credentials>.Invalid(Socks5ParseError.EmptyPassword);
        }

        var length = passwordLengthAt + 1 + passwordLength;
        if (input.Length < length)
        {
            return ParseResult<Socks5Credentials>.NeedMore(input.Length, length);
        }

        var credentials = new Socks5Credentials(2..passwordLengthAt, (passwordLengthAt + 1)..length);
        return ParseResult<Socks5Credentials>.Done(credentials, length);
    }

    /// <summary>
    /// VER LEN, the opening a greeting and an RFC 1929 request share, LEN counting the field after it: null once both
    /// bytes are there, VER is right and LEN is not 0, otherwise what to return. <paramref name="shortest"/> is the
    /// shortest whole message, what is needed before anything has arrived.
    /// </summary>
    private static ParseResult<T>? ParseOpening<T>(ReadOnlySpan<byte> input, byte version, Socks5ParseError badVersion, Socks5ParseError emptyField, int shortest)
    {
        if (input.Length < 1)
        {
            return ParseResult<T>.NeedMore(shortest);
        }

        if (input[0] != version)
        {
            return ParseResult<T>.Invalid(badVersion);
        }

        if (input.Length < 2)
        {
            return ParseResult<T>.NeedMore(input.Length, shortest);
        }

        return input[1] == 0 ? ParseResult<T>.Invalid(emptyField) : null;
    }

    /// <summary>Parses VER CMD RSV ATYP DST.ADDR DST.PORT.</summary>
    public static ParseResult<Socks5Request> ParseRequest(ReadOnlySpan<byte> input)
        => ParseAddressed(
            input, (byte)Socks5Command.Connect, (byte)Socks5Command.UdpAssociate, Socks5ParseError.UnknownCommand,
            static (command, destination) => new Socks5Request((Socks5Command)command, destination));

    /// <summary>Parses VER METHOD; any METHOD byte is returned, <see cref="Socks5AuthMethod.NoAcceptable"/> included.</summary>
    public static ParseResult<Socks5AuthMethod> ParseMethodSelection(ReadOnlySpan<byte> input)
    {
        if (input.Length >= 1 && input[0] != Version)
        {
            return ParseResult<Socks5AuthMethod>.Invalid(Socks5ParseError.BadVersion);
        }

        return input.Length < 2
            ? ParseResult<Socks5AuthMethod>.NeedMore(input.Length, 2)
            : ParseResult<Socks5AuthMethod>.Done((Socks5AuthMethod)input[1], 2);
    }

    /// <summary>Parses VER STATUS (RFC 1929); the value is true when STATUS is 0x00, the only success.</summary>
    public static ParseResult<bool> ParseAuthReply(ReadOnlySpan<byte> input)
    {
        if (input.Length >= 1 && input[0] != AuthVersion)
        {
            return ParseResult<bool>.Invalid(Socks5ParseError.BadAuthVersion);
        }

        return input.Length < 2
            ? ParseResult<bool>.NeedMore(input.Length, 2)
            : ParseResult<bool>.Done(input[1] == AuthSuccess, 2);
    }

    /// <summary>Parses VER REP RSV ATYP BND.ADDR BND.PORT.</summary>
    public static ParseResult<Socks5Reply> ParseReply(ReadOnlySpan<byte> input)
        => ParseAddressed(
            input, (byte)Socks5ReplyCode.Succeeded, (byte)Socks5ReplyCode.AddressTypeNotSupported, Socks5ParseError.BadReplyCode,
            static (code, bound) => new Socks5Reply((Socks5ReplyCode)code, bound));

    /// <summary>
    /// VER CODE RSV ATYP ADDR PORT, the layout a request and a reply share (RFC 1928 sections 4 and 6). Each field is
    /// judged as soon as it has arrived, so a bad version or code fails before the address is read.
    /// </summary>
    private static ParseResult<TMessage> ParseAddressed<TMessage>(
        ReadOnlySpan<byte> input, byte minCode, byte maxCode, Socks5ParseError badCode, Func<byte, Destination, TMessage> message)
    {
        if (input.Length >= 1 && input[0] != Version)
        {
            return ParseResult<TMessage>.Invalid(Socks5ParseError.BadVersion);
        }

        if (input.Length >= 2 && (input[1] < minCode || input[1] > maxCode))
        {
            return ParseResult<TMessage>.Invalid(badCode);
        }

        if (input.Length >= 3 && input[2] != 0)
        {
            return ParseResult<TMessage>.Invalid(Socks5ParseError.ReservedNotZero);
        }

        if (input.Length < 3)
        {
            return ParseResult<TMessage>.NeedMore(input.Length, 3 + 2);
        }

        var address = Socks5Address.Parse(input[3..]);
        return address.Status switch
        {
            ParseStatus.Done => ParseResult<TMessage>.Done(message(input[1], address.Value), 3 + address.Consumed),
            ParseStatus.NeedMoreData => ParseResult<TMessage>.NeedMore(address.Needed),
            _ => ParseResult<TMessage>.Invalid(address.Error),
        };
    }

    /// <summary>
    /// Parses RSV RSV FRAG ATYP DST.ADDR DST.PORT at the start of a datagram. A datagram arrives whole,
    /// so <see cref="ParseStatus.NeedMoreData"/> here means it is truncated. FRAG is reported, not judged.
    /// </summary>
    public static ParseResult<Socks5UdpHeader> ParseUdpHeader(ReadOnlySpan<byte> datagram)
    {
        var frame = ParseUdpFrame(datagram);
        if (!frame.IsDone)
        {
            return frame.IsInvalid ? ParseResult<Socks5UdpHeader>.Invalid(frame.Error) : ParseResult<Socks5UdpHeader>.NeedMore();
        }

        var header = frame.Value;
        return ParseResult<Socks5UdpHeader>.Done(
            new Socks5UdpHeader(header.Fragment, Socks5Address.ToDestination(datagram, header.Address), header.HeaderLength), frame.Consumed);
    }

    /// <summary>
    /// <see cref="ParseUdpHeader"/> without building the address: the relay's per-datagram parse. The same checks,
    /// the same errors; the address's offset is from the start of <paramref name="datagram"/>.
    /// </summary>
    public static ParseResult<Socks5UdpFrame> ParseUdpFrame(ReadOnlySpan<byte> datagram)
    {
        if ((datagram.Length >= 1 && datagram[0] != 0) || (datagram.Length >= 2 && datagram[1] != 0))
        {
            return ParseResult<Socks5UdpFrame>.Invalid(Socks5ParseError.ReservedNotZero);
        }

        if (datagram.Length < 3)
        {
            return ParseResult<Socks5UdpFrame>.NeedMore();
        }

        var address = Socks5Address.ParseInPlace(datagram[3..]);
        if (!address.IsDone)
        {
            return address.IsInvalid ? ParseResult<Socks5UdpFrame>.Invalid(address.Error) : ParseResult<Socks5UdpFrame>.NeedMore();
        }

        var at = address.Value with { Offset = address.Value.Offset + 3 };
        var length = 3 + address.Consumed;
        return ParseResult<Socks5UdpFrame>.Done(new Socks5UdpFrame(datagram[2], at, length), length);
    }

    /// <summary>
    /// Writes RSV RSV FRAG=0 ATYP ADDR PORT for an IP address given as its 4 or 16 bytes, ending at
    /// <paramref name="dest"/>'s end, so it can be written into the room right before a payload. Returns its length.
    /// </summary>
    public static int WriteUdpHeaderBefore(Span<byte> dest, ReadOnlySpan<byte> address, ushort port)
    {
        if (address.Length is not (4 or 16))
        {
            throw new ArgumentException("an IPv4 or IPv6 address is 4 or 16 bytes", nameof(address));
        }

        var length = 3 + 1 + address.Length + 2;
        EnsureLength(dest, length);
        var header = dest[^length..];
        header[0] = 0;
        header[1] = 0;
        header[2] = 0;
        header[3] = address.Length == 4 ? (byte)Socks5AddressType.IPv4 : (byte)Socks5AddressType.IPv6;
        address.CopyTo(header[4..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[(4 + address.Length)..], port);
        return length;
    }

    /// <summary>Writes VER NMETHODS METHODS; needs 1 to 255 methods, none of them <see cref="Socks5AuthMethod.NoAcceptable"/>.</summary>
    public static int WriteGreeting(Span<byte> dest, ReadOnlySpan<Socks5AuthMethod> methods)
    {
        if (methods.Length is 0 or > 255)
        {
            throw new ArgumentException($"A greeting offers 1 to 255 methods, not {methods.Length}.", nameof(methods));
        }

        if (methods.Contains(Socks5AuthMethod.NoAcceptable))
        {
            throw new ArgumentException("0xFF (no acceptable methods) is a server answer, not a method to offer.", nameof(methods));
        }

        var length = 2 + methods.Length;
        EnsureLength(dest, length);
        dest[0] = Version;
        dest[1] = (byte)methods.Length;
        for (var i = 0; i < methods.Length; i++)
        {
            dest[2 + i] = (byte)methods[i];
        }

        return length;
    }

    /// <summary>Writes VER METHOD.</summary>
    public static int WriteMethodSelection(Span<byte> dest, Socks5AuthMethod method)
    {
        EnsureLength(dest, 2);
        dest[0] = Version;
        dest[1] = (byte)method;
        return 2;
    }

    /// <summary>Writes VER ULEN UNAME PLEN PASSWD (RFC 1929); each field is 1 to 255 bytes.</summary>
    public static int WriteUsernamePassword(Span<byte> dest, ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        if (username.Length is 0 or > 255)
        {
            throw new ArgumentException($"A username is 1 to 255 bytes, not {username.Length}.", nameof(username));
        }

        if (password.Length is 0 or > 255)
        {
            throw new ArgumentException($"A password is 1 to 255 bytes, not {password.Length}.", nameof(password));
        }

        var length = 3 + username.Length + password.Length;
        EnsureLength(dest, length);
        dest[0] = AuthVersion;
        dest[1] = (byte)username.Length;
        username.CopyTo(dest[2..]);
        dest[2 + username.Length] = (byte)password.Length;
        password.CopyTo(dest[(3 + username.Length)..]);
        return length;
    }

    /// <summary>Writes VER STATUS (RFC 1929): 0x00 for success, 0x01 for failure.</summary>
    public static int WriteAuthReply(Span<byte> dest, bool success)
    {
        EnsureLength(dest, 2);
        dest[0] = AuthVersion;
        dest[1] = success ? AuthSuccess : AuthFailure;
        return 2;
    }

    /// <summary>Writes VER CMD RSV ATYP DST.ADDR DST.PORT.</summary>
    public static int WriteRequest(Span<byte> dest, Socks5Command command, Destination destination)
    {
        if (command is < Socks5Command.Connect or > Socks5Command.UdpAssociate)
        {
            throw new ArgumentOutOfRangeException(nameof(command), command, "Not a SOCKS5 command.");
        }

        var length = 3 + Socks5Address.GetLength(destination, nameof(destination));
        EnsureLength(dest, length);
        dest[0] = Version;
        dest[1] = (byte)command;
        dest[2] = 0;
        Socks5Address.Write(dest[3..], destination);
        return length;
    }

    /// <summary>
    /// Writes VER REP RSV ATYP BND.ADDR BND.PORT. A default <paramref name="bound"/> is written as 0.0.0.0:0, which is
    /// what failure replies carry, and an IPv4-mapped IPv6 address (what a dual-stack socket reports) as plain IPv4,
    /// which every client understands.
    /// </summary>
    public static int WriteReply(Span<byte> dest, Socks5ReplyCode code, Destination bound)
    {
        if (code > Socks5ReplyCode.AddressTypeNotSupported)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "Not a SOCKS5 reply code.");
        }

        var mapped = bound.Address is { IsIPv4MappedToIPv6: true } ? bound.Address : null;
        var length = 3 + (bound.IsDefault || mapped is not null ? 1 + 4 + 2 : Socks5Address.GetLength(bound, nameof(bound)));
        EnsureLength(dest, length);
        dest[0] = Version;
        dest[1] = (byte)code;
        dest[2] = 0;
        if (bound.IsDefault)
        {
            dest[3] = (byte)Socks5AddressType.IPv4;
            dest.Slice(4, 4 + 2).Clear();
        }
        else if (mapped is not null)
        {
            Socks5Address.WriteMappedAsIPv4(dest[3..], mapped, bound.Port);
        }
        else
        {
            Socks5Address.Write(dest[3..], bound);
        }

        return length;
    }

    /// <summary>Writes RSV RSV FRAG ATYP DST.ADDR DST.PORT; the payload goes right after the returned length.</summary>
    public static int WriteUdpHeader(Span<byte> dest, Destination destination, byte fragment = 0)
    {
        var length = 3 + Socks5Address.GetLength(destination, nameof(destination));
        EnsureLength(dest, length);
        dest[0] = 0;
        dest[1] = 0;
        dest[2] = fragment;
        Socks5Address.Write(dest[3..], destination);
        return length;
    }

    /// <summary>
    /// The length of a request to <paramref name="d"/>. A UDP header for the same destination has the same length,
    /// and so does a reply, unless the reply rewrites the address (see <see cref="WriteReply"/>).
    /// </summary>
    public static int GetRequestLength(Destination d) => 3 + Socks5Address.GetLength(d, nameof(d));

    /// <summary>The reply a server sends when connecting to the destination failed with <paramref name="error"/>.</summary>
    public static Socks5ReplyCode ToReplyCode(SocketError error) => error switch
    {
        SocketError.NetworkUnreachable or SocketError.NetworkDown => Socks5ReplyCode.NetworkUnreachable,
        SocketError.HostUnreachable or SocketError.HostDown or SocketError.HostNotFound
            or SocketError.TryAgain or SocketError.NoData => Socks5ReplyCode.HostUnreachable,
        SocketError.ConnectionRefused => Socks5ReplyCode.ConnectionRefused,
        SocketError.TimedOut => Socks5ReplyCode.TtlExpired,
        SocketError.AccessDenied => Socks5ReplyCode.NotAllowedByRuleset,
        SocketError.AddressFamilyNotSupported => Socks5ReplyCode.AddressTypeNotSupported,
        _ => Socks5ReplyCode.GeneralFailure,
    };

    /// <summary>The reply a server must send for a request that failed to parse with <paramref name="error"/>.</summary>
    public static Socks5ReplyCode ToReplyCode(Socks5ParseError error) => error switch
    {
        Socks5ParseError.UnknownCommand => Socks5ReplyCode.CommandNotSupported,
        Socks5ParseError.UnknownAddressType => Socks5ReplyCode.AddressTypeNotSupported,
        _ => Socks5ReplyCode.GeneralFailure,
    };

    private static void EnsureLength(Span<byte> dest, int length)
    {
        if (dest.Length < length)
        {
            throw new ArgumentException($"The message needs {length} bytes; the span has {dest.Length}.", nameof(dest));
        }
    }
}
