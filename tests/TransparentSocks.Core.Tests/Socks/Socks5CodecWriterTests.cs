using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5CodecWriterTests
{
    [Fact]
    public void WriteGreeting_TwoMethods_WritesRfcBytes()
    {
        var bytes = Write(d => Socks5Codec.WriteGreeting(d, [Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]));

        Assert.Equal(Hex("05 02 00 02"), bytes);
    }

    [Fact]
    public void WriteMethodSelection_NoAcceptable_WritesFF()
    {
        Assert.Equal(Hex("05 FF"), Write(d => Socks5Codec.WriteMethodSelection(d, Socks5AuthMethod.NoAcceptable)));
    }

    [Fact]
    public void WriteUsernamePassword_ShortCredentials_WritesRfcBytes()
    {
        var bytes = Write(d => Socks5Codec.WriteUsernamePassword(d, "ab"u8, "xyz"u8));

        Assert.Equal(Hex("01 02 61 62 03 78 79 7A"), bytes);
    }

    [Theory]
    [InlineData(true, "01 00")]
    [InlineData(false, "01 01")]
    public void WriteAuthReply_Outcome_WritesStatus(bool success, string expected)
    {
        Assert.Equal(Hex(expected), Write(d => Socks5Codec.WriteAuthReply(d, success)));
    }

    [Fact]
    public void WriteRequest_IPv4_WritesRfcBytes()
    {
        var destination = Destination.FromAddress(IPAddress.Parse("127.0.0.1"), 8080);

        var bytes = Write(d => Socks5Codec.WriteRequest(d, Socks5Command.Connect, destination));

        Assert.Equal(Hex("05 01 00 01 7F 00 00 01 1F 90"), bytes);
    }

    [Fact]
    public void WriteRequest_IPv6_WritesRfcBytes()
    {
        var destination = Destination.FromAddress(IPAddress.Parse("2001:db8::1"), 443);

        var bytes = Write(d => Socks5Codec.WriteRequest(d, Socks5Command.Bind, destination));

        Assert.Equal(Hex("05 02 00 04 20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01 01 BB"), bytes);
    }

    [Fact]
    public void WriteRequest_Domain_WritesLengthPrefixedName()
    {
        var bytes = Write(d => Socks5Codec.WriteRequest(d, Socks5Command.UdpAssociate, Destination.FromHost("ab.c", 53)));

        Assert.Equal(Hex("05 03 00 03 04 61 62 2E 63 00 35"), bytes);
    }

    [Fact]
    public void WriteRequest_IPv4MappedIPv6_StaysIPv6()
    {
        var bytes = Write(d => Socks5Codec.WriteRequest(d, Socks5Command.Connect, Destinations["ipv4-mapped-ipv6"]));

        Assert.Equal((byte)Socks5AddressType.IPv6, bytes[3]);
    }

    [Fact]
    public void WriteReply_DefaultBound_WritesZeroIPv4()
    {
        var bytes = Write(d => Socks5Codec.WriteReply(d, Socks5ReplyCode.ConnectionRefused, default));

        Assert.Equal(Hex("05 05 00 01 00 00 00 00 00 00"), bytes);
    }

    [Fact]
    public void WriteReply_IPv4MappedBound_WritesIPv4()
    {
        var bound = Destination.FromAddress(IPAddress.Parse("::ffff:192.0.2.1"), 1080);

        var bytes = Write(d => Socks5Codec.WriteReply(d, Socks5ReplyCode.Succeeded, bound));

        Assert.Equal(Hex("05 00 00 01 C0 00 02 01 04 38"), bytes);
    }

    [Fact]
    public void WriteUdpHeader_Fragment_WritesRfcBytes()
    {
        var destination = Destination.FromAddress(IPAddress.Parse("8.8.8.8"), 53);

        var bytes = Write(d => Socks5Codec.WriteUdpHeader(d, destination, fragment: 2));

        Assert.Equal(Hex("00 00 02 01 08 08 08 08 00 35"), bytes);
    }

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Writers_SpanOfExactLength_Succeed(string sampleName)
    {
        var expected = Valid[sampleName].Bytes;
        var exact = Enumerable.Repeat((byte)0xA5, expected.Length).ToArray();

        var written = Rewrite(sampleName, exact);

        Assert.Equal(expected.Length, written);
        Assert.Equal(expected, exact);
    }

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Writers_SpanOneByteShort_ThrowArgumentException(string sampleName)
    {
        var tooSmall = new byte[Valid[sampleName].Bytes.Length - 1];

        var error = Assert.Throws<ArgumentException>(() => Rewrite(sampleName, tooSmall));
        Assert.Equal("dest", error.ParamName);
    }

    [Fact]
    public void WriteGreeting_NoMethods_Throws()
    {
        Assert.Throws<ArgumentException>("methods", () => Socks5Codec.WriteGreeting(new byte[16], []));
    }

    [Fact]
    public void WriteGreeting_256Methods_Throws()
    {
        var methods = new Socks5AuthMethod[256];

        Assert.Throws<ArgumentException>("methods", () => Socks5Codec.WriteGreeting(new byte[512], methods));
    }

    [Fact]
    public void WriteGreeting_OffersNoAcceptable_Throws()
    {
        Assert.Throws<ArgumentException>(
            "methods", () => Socks5Codec.WriteGreeting(new byte[16], [Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.NoAcceptable]));
    }

    [Theory]
    [InlineData(0, 1, "username")]
    [InlineData(256, 1, "username")]
    [InlineData(1, 0, "password")]
    [InlineData(1, 256, "password")]
    public void WriteUsernamePassword_FieldOutOfRange_Throws(int usernameLength, int passwordLength, string paramName)
    {
        var username = new byte[usernameLength];
        var password = new byte[passwordLength];

        Assert.Throws<ArgumentException>(paramName, () => Socks5Codec.WriteUsernamePassword(new byte[1024], username, password));
    }

    [Fact]
    public void WriteRequest_DefaultDestination_Throws()
    {
        Assert.Throws<ArgumentException>("destination", () => Socks5Codec.WriteRequest(new byte[64], Socks5Command.Connect, default));
    }

    [Fact]
    public void WriteUdpHeader_DefaultDestination_Throws()
    {
        Assert.Throws<ArgumentException>("destination", () => Socks5Codec.WriteUdpHeader(new byte[64], default));
    }

    [Fact]
    public void GetRequestLength_DefaultDestination_Throws()
    {
        Assert.Throws<ArgumentException>("d", () => Socks5Codec.GetRequestLength(default));
    }

    [Theory]
    [InlineData(256)]
    [InlineData(1000)]
    public void WriteRequest_HostLongerThan255_Throws(int length)
    {
        var destination = Destination.FromHost(new string('a', length), 80);

        Assert.Throws<ArgumentException>("destination", () => Socks5Codec.WriteRequest(new byte[2048], Socks5Command.Connect, destination));
    }

    [Theory]
    [InlineData("bad host")]
    [InlineData("bad/host")]
    [InlineData("bad\thost")]
    [InlineData("bad\0host")]
    [InlineData("bad\u007fhost")]
    [InlineData("b\u0100d")]
    [InlineData("\u4f8b\u3048")]
    public void WriteRequest_HostWithCharacterSocksCannotCarry_Throws(string host)
    {
        var destination = Destination.FromHost(host, 80);

        Assert.Throws<ArgumentException>("destination", () => Socks5Codec.WriteRequest(new byte[64], Socks5Command.Connect, destination));
        Assert.Throws<ArgumentException>("destination", () => Socks5Codec.WriteUdpHeader(new byte[64], destination));
        Assert.Throws<ArgumentException>("bound", () => Socks5Codec.WriteReply(new byte[64], Socks5ReplyCode.Succeeded, destination));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    [InlineData(0xFF)]
    public void WriteRequest_UnknownCommand_Throws(byte value)
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            "command", () => Socks5Codec.WriteRequest(new byte[64], (Socks5Command)value, Destinations["ipv4"]));
    }

    [Theory]
    [InlineData(9)]
    [InlineData(0xFF)]
    public void WriteReply_UnknownCode_Throws(byte value)
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            "code", () => Socks5Codec.WriteReply(new byte[64], (Socks5ReplyCode)value, Destinations["ipv4"]));
    }

    [Fact]
    public void WriteRequest_Throws_LeavesSpanUntouched()
    {
        var dest = new byte[5];

        Assert.Throws<ArgumentException>(() => Socks5Codec.WriteRequest(dest, Socks5Command.Connect, Destinations["ipv4"]));
        Assert.All(dest, b => Assert.Equal(0, b));
    }

    /// <summary>Writes the named sample again into <paramref name="dest"/> by re-parsing it, so each writer is driven with its own input.</summary>
    private static int Rewrite(string sampleName, byte[] dest)
    {
        var (kind, bytes) = Valid[sampleName];
        switch (kind)
        {
            case MessageKind.Greeting:
                var count = bytes[1];
                var methods = bytes.AsSpan(2, count).ToArray().Select(b => (Socks5AuthMethod)b).ToArray();
                return Socks5Codec.WriteGreeting(dest, methods);
            case MessageKind.UsernamePassword:
                var credentials = Socks5Codec.ParseUsernamePassword(bytes).Value;
                return Socks5Codec.WriteUsernamePassword(dest, bytes[credentials.Username], bytes[credentials.Password]);
            case MessageKind.Request:
                var request = Socks5Codec.ParseRequest(bytes).Value;
                return Socks5Codec.WriteRequest(dest, request.Command, request.Destination);
            case MessageKind.MethodSelection:
                return Socks5Codec.WriteMethodSelection(dest, Socks5Codec.ParseMethodSelection(bytes).Value);
            case MessageKind.AuthReply:
                return Socks5Codec.WriteAuthReply(dest, Socks5Codec.ParseAuthReply(bytes).Value);
            case MessageKind.Reply:
                var reply = Socks5Codec.ParseReply(bytes).Value;
                return Socks5Codec.WriteReply(dest, reply.Code, reply.Bound);
            case MessageKind.UdpHeader:
                var header = Socks5Codec.ParseUdpHeader(bytes).Value;
                return Socks5Codec.WriteUdpHeader(dest, header.Destination, header.Fragment);
            default:
                throw new ArgumentOutOfRangeException(nameof(sampleName));
        }
    }
}
