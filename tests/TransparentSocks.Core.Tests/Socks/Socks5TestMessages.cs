using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.Core.Tests.Socks;

/// <summary>Which parser a sample belongs to, so one test can drive all seven.</summary>
public enum MessageKind
{
    Greeting,
    UsernamePassword,
    Request,
    MethodSelection,
    AuthReply,
    Reply,
    UdpHeader,
}

/// <summary>The parts of a parse result every parser shares, for tests that do not care about the value.</summary>
internal readonly record struct Outcome(ParseStatus Status, int Consumed, Socks5ParseError Error, object? Value);

internal static class Socks5TestMessages
{
    public static readonly string LongHost = new('a', 255);

    /// <summary>Destinations that cover each address type and the edges of ports and name lengths.</summary>
    public static readonly IReadOnlyDictionary<string, Destination> Destinations = new Dictionary<string, Destination>
    {
        ["ipv4"] = Destination.FromAddress(IPAddress.Parse("192.0.2.10"), 443),
        ["ipv4-port0"] = Destination.FromAddress(IPAddress.Parse("10.0.0.1"), 0),
        ["ipv4-port65535"] = Destination.FromAddress(IPAddress.Parse("255.255.255.255"), 65535),
        ["ipv6"] = Destination.FromAddress(IPAddress.Parse("2001:db8::1"), 8080),
        ["ipv6-port65535"] = Destination.FromAddress(IPAddress.Parse("::"), 65535),
        ["ipv4-mapped-ipv6"] = Destination.FromAddress(IPAddress.Parse("::ffff:192.0.2.1"), 22),
        ["domain-len1"] = Destination.FromHost("a", 80),
        ["domain-len255"] = Destination.FromHost(LongHost, 65535),
        ["domain-port0"] = Destination.FromHost("example.com", 0),
        ["domain-latin1"] = Destination.FromHost("b\u00fccher.example", 443),
    };

    public static TheoryData<string> DestinationNames => new(Destinations.Keys);

    /// <summary>One valid message per shape, each built by the matching writer.</summary>
    public static readonly IReadOnlyDictionary<string, (MessageKind Kind, byte[] Bytes)> Valid = BuildValid();

    public static TheoryData<string> ValidNames => new(Valid.Keys);

    public static Outcome Parse(MessageKind kind, ReadOnlySpan<byte> input) => kind switch
    {
        MessageKind.Greeting => From(Socks5Codec.ParseGreeting(input)),
        MessageKind.UsernamePassword => From(Socks5Codec.ParseUsernamePassword(input)),
        MessageKind.Request => From(Socks5Codec.ParseRequest(input)),
        MessageKind.MethodSelection => From(Socks5Codec.ParseMethodSelection(input)),
        MessageKind.AuthReply => From(Socks5Codec.ParseAuthReply(input)),
        MessageKind.Reply => From(Socks5Codec.ParseReply(input)),
        MessageKind.UdpHeader => From(Socks5Codec.ParseUdpHeader(input)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    /// <summary>Runs a writer over a buffer of junk, so a field the writer forgets to set shows up.</summary>
    public static byte[] Write(WriteAction write)
    {
        var buffer = new byte[1024];
        buffer.AsSpan().Fill(0xA5);
        var length = write(buffer);
        return buffer[..length];
    }

    public delegate int WriteAction(Span<byte> dest);

    private static Outcome From<T>(ParseResult<T> result) => new(result.Status, result.Consumed, result.Error, result.Value);

    private static Dictionary<string, (MessageKind, byte[])> BuildValid()
    {
        var valid = new Dictionary<string, (MessageKind, byte[])>
        {
            ["greeting-one"] = (MessageKind.Greeting, Write(d => Socks5Codec.WriteGreeting(d, [Socks5AuthMethod.NoAuthentication]))),
            ["greeting-255"] = (MessageKind.Greeting, Write(d => Socks5Codec.WriteGreeting(
                d, Enumerable.Range(0, 255).Select(i => (Socks5AuthMethod)i).ToArray()))),
            ["auth-short"] = (MessageKind.UsernamePassword, Write(d => Socks5Codec.WriteUsernamePassword(d, "u"u8, "p"u8))),
            ["auth-max"] = (MessageKind.UsernamePassword, Write(d => Socks5Codec.WriteUsernamePassword(
                d, Enumerable.Repeat((byte)'u', 255).ToArray(), Enumerable.Repeat((byte)'p', 255).ToArray()))),
            ["method-selection"] = (MessageKind.MethodSelection, Write(d => Socks5Codec.WriteMethodSelection(d, Socks5AuthMethod.UsernamePassword))),
            ["method-selection-none"] = (MessageKind.MethodSelection, Write(d => Socks5Codec.WriteMethodSelection(d, Socks5AuthMethod.NoAcceptable))),
            ["auth-reply-ok"] = (MessageKind.AuthReply, Write(d => Socks5Codec.WriteAuthReply(d, success: true))),
            ["auth-reply-fail"] = (MessageKind.AuthReply, Write(d => Socks5Codec.WriteAuthReply(d, success: false))),
            ["reply-default"] = (MessageKind.Reply, Write(d => Socks5Codec.WriteReply(d, Socks5ReplyCode.HostUnreachable, default))),
        };

        foreach (var (name, destination) in Destinations)
        {
            valid[$"request-{name}"] = (MessageKind.Request, Write(d => Socks5Codec.WriteRequest(d, Socks5Command.Connect, destination)));
            valid[$"reply-{name}"] = (MessageKind.Reply, Write(d => Socks5Codec.WriteReply(d, Socks5ReplyCode.Succeeded, destination)));
            valid[$"udp-{name}"] = (MessageKind.UdpHeader, Write(d => Socks5Codec.WriteUdpHeader(d, destination)));
        }

        return valid;
    }
}
