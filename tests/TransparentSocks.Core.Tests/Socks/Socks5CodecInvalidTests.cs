using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5CodecInvalidTests
{
    /// <summary>
    /// Each row is a message that is wrong in exactly one way, the error it must give, and the length of the
    /// shortest prefix that already proves it wrong: a server must not wait for more bytes of garbage.
    /// </summary>
    [Theory]
    [InlineData(MessageKind.Greeting, "04 01 00", Socks5ParseError.BadVersion, 1)]
    [InlineData(MessageKind.Greeting, "05 00", Socks5ParseError.NoMethods, 2)]
    [InlineData(MessageKind.Greeting, "05 02 00 FF", Socks5ParseError.BadMethod, 4)]
    [InlineData(MessageKind.Greeting, "05 03 FF 00 02", Socks5ParseError.BadMethod, 3)]
    [InlineData(MessageKind.UsernamePassword, "05 01 61 01 62", Socks5ParseError.BadAuthVersion, 1)]
    [InlineData(MessageKind.UsernamePassword, "01 00 01 62", Socks5ParseError.EmptyUsername, 2)]
    [InlineData(MessageKind.UsernamePassword, "01 01 61 00", Socks5ParseError.EmptyPassword, 4)]
    [InlineData(MessageKind.Request, "04 01 00 01 7F 00 00 01 00 50", Socks5ParseError.BadVersion, 1)]
    [InlineData(MessageKind.Request, "05 00 00 01 7F 00 00 01 00 50", Socks5ParseError.UnknownCommand, 2)]
    [InlineData(MessageKind.Request, "05 04 00 01 7F 00 00 01 00 50", Socks5ParseError.UnknownCommand, 2)]
    [InlineData(MessageKind.Request, "05 01 01 01 7F 00 00 01 00 50", Socks5ParseError.ReservedNotZero, 3)]
    [InlineData(MessageKind.Request, "05 01 00 00 7F 00 00 01 00 50", Socks5ParseError.UnknownAddressType, 4)]
    [InlineData(MessageKind.Request, "05 01 00 02 7F 00 00 01 00 50", Socks5ParseError.UnknownAddressType, 4)]
    [InlineData(MessageKind.Request, "05 01 00 05 7F 00 00 01 00 50", Socks5ParseError.UnknownAddressType, 4)]
    [InlineData(MessageKind.Request, "05 01 00 03 00 00 50", Socks5ParseError.EmptyDomain, 5)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 20 62 00 50", Socks5ParseError.BadDomain, 7)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 00 61 62 00 50", Socks5ParseError.BadDomain, 6)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 62 2F 00 50", Socks5ParseError.BadDomain, 8)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 0A 62 00 50", Socks5ParseError.BadDomain, 7)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 09 62 00 50", Socks5ParseError.BadDomain, 7)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 1F 62 00 50", Socks5ParseError.BadDomain, 7)]
    [InlineData(MessageKind.Request, "05 01 00 03 03 61 7F 62 00 50", Socks5ParseError.BadDomain, 7)]
    [InlineData(MessageKind.MethodSelection, "04 00", Socks5ParseError.BadVersion, 1)]
    [InlineData(MessageKind.AuthReply, "05 00", Socks5ParseError.BadAuthVersion, 1)]
    [InlineData(MessageKind.Reply, "04 00 00 01 7F 00 00 01 00 50", Socks5ParseError.BadVersion, 1)]
    [InlineData(MessageKind.Reply, "05 09 00 01 7F 00 00 01 00 50", Socks5ParseError.BadReplyCode, 2)]
    [InlineData(MessageKind.Reply, "05 FF 00 01 7F 00 00 01 00 50", Socks5ParseError.BadReplyCode, 2)]
    [InlineData(MessageKind.Reply, "05 00 01 01 7F 00 00 01 00 50", Socks5ParseError.ReservedNotZero, 3)]
    [InlineData(MessageKind.Reply, "05 00 00 02 7F 00 00 01 00 50", Socks5ParseError.UnknownAddressType, 4)]
    [InlineData(MessageKind.Reply, "05 00 00 03 00 00 50", Socks5ParseError.EmptyDomain, 5)]
    [InlineData(MessageKind.Reply, "05 00 00 03 01 2F 00 50", Socks5ParseError.BadDomain, 6)]
    [InlineData(MessageKind.UdpHeader, "01 00 00 01 7F 00 00 01 00 35", Socks5ParseError.ReservedNotZero, 1)]
    [InlineData(MessageKind.UdpHeader, "00 01 00 01 7F 00 00 01 00 35", Socks5ParseError.ReservedNotZero, 2)]
    [InlineData(MessageKind.UdpHeader, "00 00 00 05 7F 00 00 01 00 35", Socks5ParseError.UnknownAddressType, 4)]
    [InlineData(MessageKind.UdpHeader, "00 00 00 03 00 00 35", Socks5ParseError.EmptyDomain, 5)]
    [InlineData(MessageKind.UdpHeader, "00 00 00 03 02 61 00 00 35", Socks5ParseError.BadDomain, 7)]
    // "fe80::1%1": an IPv6 literal with a zone, refused once the whole name is in (found with the fuzz targets' round trip).
    [InlineData(MessageKind.Request, "05 01 00 03 09 66 65 38 30 3A 3A 31 25 31 00 50", Socks5ParseError.BadDomain, 14)]
    [InlineData(MessageKind.Reply, "05 00 00 03 09 66 65 38 30 3A 3A 31 25 31 00 50", Socks5ParseError.BadDomain, 14)]
    [InlineData(MessageKind.UdpHeader, "00 00 00 03 09 66 65 38 30 3A 3A 31 25 31 00 35", Socks5ParseError.BadDomain, 14)]
    public void Parse_InvalidMessage_GivesPreciseErrorAsSoonAsProvable(MessageKind kind, string hex, Socks5ParseError expected, int failsAt)
    {
        var bytes = Hex(hex);

        for (var length = 0; length <= bytes.Length; length++)
        {
            var outcome = Parse(kind, bytes.AsSpan(0, length));

            if (length < failsAt)
            {
                Assert.True(outcome.Status == ParseStatus.NeedMoreData, $"prefix of {length} bytes gave {outcome}");
            }
            else
            {
                Assert.Equal(new Outcome(ParseStatus.Invalid, 0, expected, DefaultValue(kind)), outcome);
            }
        }
    }

    [Fact]
    public void ParseGreeting_Socks4Connect_IsBadVersionAtFirstByte()
    {
        var result = Socks5Codec.ParseGreeting(Hex("04"));

        Assert.Equal(ParseStatus.Invalid, result.Status);
        Assert.Equal(Socks5ParseError.BadVersion, result.Error);
    }

    [Fact]
    public void ParseGreeting_HttpRequest_IsBadVersion()
    {
        var result = Socks5Codec.ParseGreeting("GET / HTTP/1.1\r\n"u8);

        Assert.True(result.IsInvalid);
        Assert.Equal(Socks5ParseError.BadVersion, result.Error);
    }

    [Fact]
    public void ParseRequest_SeveralFaults_ReportsTheFirst()
    {
        var result = Socks5Codec.ParseRequest(Hex("05 09 01 09"));

        Assert.Equal(Socks5ParseError.UnknownCommand, result.Error);
    }

    /// <summary>
    /// A zone picks an interface on the proxy, and the 16 address bytes a writer sends on cannot carry it: the
    /// destination written back would be another one.
    /// </summary>
    [Theory]
    [InlineData("fe80::1%1")]
    [InlineData("fe80::1%0")]
    public void ParseRequest_NameThatIsAnIPv6LiteralWithAZone_IsBadDomain(string name)
    {
        var request = Hex("05 01 00 03").Append((byte)name.Length).Concat(System.Text.Encoding.Latin1.GetBytes(name)).Concat(Hex("00 50")).ToArray();

        var outcome = Socks5Codec.ParseRequest(request);

        Assert.Equal(ParseStatus.Invalid, outcome.Status);
        Assert.Equal(Socks5ParseError.BadDomain, outcome.Error);
    }

    [Theory]
    [InlineData("100%.example")]
    [InlineData("%")]
    public void ParseRequest_NameWithAPercentThatIsNoAddress_IsAName(string name)
    {
        var request = Hex("05 01 00 03").Append((byte)name.Length).Concat(System.Text.Encoding.Latin1.GetBytes(name)).Concat(Hex("00 50")).ToArray();

        var outcome = Socks5Codec.ParseRequest(request);

        Assert.Equal(ParseStatus.Done, outcome.Status);
        Assert.Equal(name, outcome.Value.Destination.Host);
    }

    [Fact]
    public void ParseRequest_DomainCutInsideValidBytes_NeedsMoreData()
    {
        var result = Socks5Codec.ParseRequest(Hex("05 01 00 03 05 61 62"));

        Assert.Equal(ParseStatus.NeedMoreData, result.Status);
    }

    [Fact]
    public void ParseUdpHeader_NonZeroFragment_IsReportedNotRefused()
    {
        var result = Socks5Codec.ParseUdpHeader(Hex("00 00 05 01 7F 00 00 01 00 35 AA"));

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(5, result.Value.Fragment);
    }

    private static object? DefaultValue(MessageKind kind) => kind switch
    {
        MessageKind.Greeting => default(Socks5Greeting),
        MessageKind.UsernamePassword => default(Socks5Credentials),
        MessageKind.Request => default(Socks5Request),
        MessageKind.MethodSelection => default(Socks5AuthMethod),
        MessageKind.AuthReply => false,
        MessageKind.Reply => default(Socks5Reply),
        MessageKind.UdpHeader => default(Socks5UdpHeader),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
