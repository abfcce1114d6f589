using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5CodecRoundTripTests
{
    [Theory]
    [InlineData(new byte[] { 0x00 })]
    [InlineData(new byte[] { 0x00, 0x02 })]
    [InlineData(new byte[] { 0x02, 0x01, 0x00, 0x80, 0xFE })]
    public void Greeting_WrittenThenParsed_YieldsSameMethods(byte[] methodBytes)
    {
        var methods = methodBytes.Select(b => (Socks5AuthMethod)b).ToArray();
        var bytes = Write(d => Socks5Codec.WriteGreeting(d, methods));

        var result = Socks5Codec.ParseGreeting(bytes);

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(bytes.Length, result.Consumed);
        Assert.Equal(Socks5MethodSet.Create(methods), result.Value.Methods);
        Assert.Equal(methods.Length, result.Value.Methods.Count);
    }

    [Fact]
    public void Greeting_RepeatedMethod_CountsOnce()
    {
        var bytes = Write(d => Socks5Codec.WriteGreeting(
            d, [Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword]));

        var result = Socks5Codec.ParseGreeting(bytes);

        Assert.Equal(5, result.Consumed);
        Assert.Equal(2, result.Value.Methods.Count);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(255, 255)]
    [InlineData(1, 255)]
    [InlineData(255, 1)]
    public void UsernamePassword_WrittenThenParsed_YieldsSameBytes(int usernameLength, int passwordLength)
    {
        var username = Enumerable.Range(0, usernameLength).Select(i => (byte)(i + 1)).ToArray();
        var password = Enumerable.Range(0, passwordLength).Select(i => (byte)(255 - i)).ToArray();
        var bytes = Write(d => Socks5Codec.WriteUsernamePassword(d, username, password));

        var result = Socks5Codec.ParseUsernamePassword(bytes);

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(bytes.Length, result.Consumed);
        Assert.Equal(username, result.Value.GetUsername(bytes).ToArray());
        Assert.Equal(password, result.Value.GetPassword(bytes).ToArray());
        Assert.Equal(username, bytes[result.Value.Username]);
    }

    [Theory]
    [MemberData(nameof(DestinationNames), MemberType = typeof(Socks5TestMessages))]
    public void Request_WrittenThenParsed_YieldsSameRequest(string destinationName)
    {
        var destination = Destinations[destinationName];
        foreach (var command in Enum.GetValues<Socks5Command>())
        {
            var bytes = Write(d => Socks5Codec.WriteRequest(d, command, destination));

            var result = Socks5Codec.ParseRequest(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(new Socks5Request(command, destination), result.Value);
            Assert.Equal(Socks5Codec.GetRequestLength(destination), bytes.Length);
        }
    }

    [Fact]
    public void Request_DomainOfMaximumLength_IsMaxRequestLength()
    {
        var bytes = Write(d => Socks5Codec.WriteRequest(d, Socks5Command.Connect, Destinations["domain-len255"]));

        Assert.Equal(Socks5Codec.MaxRequestLength, bytes.Length);
    }

    [Fact]
    public void Request_DomainThatIsIPLiteral_ParsesToAddress()
    {
        var bytes = Hex("05 01 00 03 07").Concat("1.2.3.4"u8.ToArray()).Concat(Hex("00 50")).ToArray();

        var result = Socks5Codec.ParseRequest(bytes);

        Assert.Equal(Destination.FromAddress(IPAddress.Parse("1.2.3.4"), 80), result.Value.Destination);
        Assert.False(result.Value.Destination.IsDomain);
    }

    [Fact]
    public void Request_DomainWithHighBytes_KeepsEveryByte()
    {
        byte[] name = [0x62, 0xC3, 0xBC, 0x63, 0x68, 0xFF];
        var bytes = Hex("05 01 00 03 06").Concat(name).Concat(Hex("01 BB")).ToArray();

        var parsed = Socks5Codec.ParseRequest(bytes).Value;
        var rewritten = Write(d => Socks5Codec.WriteRequest(d, parsed.Command, parsed.Destination));

        Assert.Equal(bytes, rewritten);
    }

    [Theory]
    [InlineData(Socks5AuthMethod.NoAuthentication)]
    [InlineData(Socks5AuthMethod.Gssapi)]
    [InlineData(Socks5AuthMethod.UsernamePassword)]
    [InlineData(Socks5AuthMethod.NoAcceptable)]
    [InlineData((Socks5AuthMethod)0x80)]
    public void MethodSelection_WrittenThenParsed_YieldsSameMethod(Socks5AuthMethod method)
    {
        var bytes = Write(d => Socks5Codec.WriteMethodSelection(d, method));

        var result = Socks5Codec.ParseMethodSelection(bytes);

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(2, result.Consumed);
        Assert.Equal(method, result.Value);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AuthReply_WrittenThenParsed_YieldsSameOutcome(bool success)
    {
        var bytes = Write(d => Socks5Codec.WriteAuthReply(d, success));

        var result = Socks5Codec.ParseAuthReply(bytes);

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(2, result.Consumed);
        Assert.Equal(success, result.Value);
    }

    [Fact]
    public void AuthReply_AnyNonZeroStatus_IsFailure()
    {
        var result = Socks5Codec.ParseAuthReply(Hex("01 7F"));

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.False(result.Value);
    }

    [Theory]
    [MemberData(nameof(DestinationNames), MemberType = typeof(Socks5TestMessages))]
    public void Reply_WrittenThenParsed_YieldsSameReply(string destinationName)
    {
        var bound = Destinations[destinationName];
        var expected = bound.Address is { IsIPv4MappedToIPv6: true } mapped
            ? Destination.FromAddress(mapped.MapToIPv4(), bound.Port)
            : bound;
        foreach (var code in Enum.GetValues<Socks5ReplyCode>())
        {
            var bytes = Write(d => Socks5Codec.WriteReply(d, code, bound));

            var result = Socks5Codec.ParseReply(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(new Socks5Reply(code, expected), result.Value);
        }
    }

    [Fact]
    public void Reply_DefaultBound_ParsesAsZeroIPv4()
    {
        var bytes = Write(d => Socks5Codec.WriteReply(d, Socks5ReplyCode.GeneralFailure, default));

        var result = Socks5Codec.ParseReply(bytes);

        Assert.Equal(10, result.Consumed);
        Assert.Equal(new Socks5Reply(Socks5ReplyCode.GeneralFailure, Destination.FromAddress(IPAddress.Any, 0)), result.Value);
    }

    [Theory]
    [MemberData(nameof(DestinationNames), MemberType = typeof(Socks5TestMessages))]
    public void UdpHeader_WrittenThenParsed_YieldsSameHeader(string destinationName)
    {
        var destination = Destinations[destinationName];
        foreach (var fragment in new byte[] { 0, 1, 0x7F, 0x80 })
        {
            var header = Write(d => Socks5Codec.WriteUdpHeader(d, destination, fragment));
            var datagram = header.Concat("payload"u8.ToArray()).ToArray();

            var result = Socks5Codec.ParseUdpHeader(datagram);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(header.Length, result.Consumed);
            Assert.Equal(new Socks5UdpHeader(fragment, destination, header.Length), result.Value);
            Assert.Equal("payload"u8.ToArray(), datagram[result.Value.HeaderLength..]);
            Assert.Equal(Socks5Codec.GetRequestLength(destination), header.Length);
        }
    }

    [Fact]
    public void UdpHeader_EmptyPayload_StillParses()
    {
        var header = Write(d => Socks5Codec.WriteUdpHeader(d, Destinations["ipv6"]));

        var result = Socks5Codec.ParseUdpHeader(header);

        Assert.Equal(ParseStatus.Done, result.Status);
        Assert.Equal(22, result.Value.HeaderLength);
    }
}
