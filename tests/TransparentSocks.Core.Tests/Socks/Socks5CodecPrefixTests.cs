using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5CodecPrefixTests
{
    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Parse_EveryProperPrefix_NeedsMoreDataAndConsumesNothing(string sampleName)
    {
        var (kind, bytes) = Valid[sampleName];
        for (var length = 0; length < bytes.Length; length++)
        {
            var outcome = Parse(kind, bytes.AsSpan(0, length));

            Assert.True(outcome.Status == ParseStatus.NeedMoreData, $"prefix of {length}/{bytes.Length} bytes gave {outcome}");
            Assert.Equal(0, outcome.Consumed);
            Assert.Equal(Socks5ParseError.None, outcome.Error);
        }
    }

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Parse_WholeMessage_ConsumesExactlyIt(string sampleName)
    {
        var (kind, bytes) = Valid[sampleName];

        var outcome = Parse(kind, bytes);

        Assert.Equal(ParseStatus.Done, outcome.Status);
        Assert.Equal(bytes.Length, outcome.Consumed);
        Assert.Equal(Socks5ParseError.None, outcome.Error);
    }

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Parse_TrailingBytes_AreNotConsumed(string sampleName)
    {
        var (kind, bytes) = Valid[sampleName];
        var whole = Parse(kind, bytes);

        foreach (var trailer in new[] { Hex("00"), Hex("05 01 00"), Hex("FF FF FF FF FF FF FF FF") })
        {
            var outcome = Parse(kind, bytes.Concat(trailer).ToArray());

            Assert.Equal(ParseStatus.Done, outcome.Status);
            Assert.Equal(bytes.Length, outcome.Consumed);
            Assert.Equal(whole.Value, outcome.Value);
        }
    }

    [Fact]
    public void Parse_PipelinedGreetingAuthRequest_ParsesInSequence()
    {
        var destination = Destination.FromHost("example.com", 443);
        var buffer = new byte[1024];
        var length = Socks5Codec.WriteGreeting(buffer, [Socks5AuthMethod.UsernamePassword]);
        length += Socks5Codec.WriteUsernamePassword(buffer.AsSpan(length), "alice"u8, "s3cret"u8);
        length += Socks5Codec.WriteRequest(buffer.AsSpan(length), Socks5Command.Connect, destination);
        ReadOnlySpan<byte> input = buffer.AsSpan(0, length);

        var greeting = Socks5Codec.ParseGreeting(input);
        input = input[greeting.Consumed..];
        var auth = Socks5Codec.ParseUsernamePassword(input);
        var username = auth.Value.GetUsername(input).ToArray();
        var password = auth.Value.GetPassword(input).ToArray();
        input = input[auth.Consumed..];
        var request = Socks5Codec.ParseRequest(input);
        input = input[request.Consumed..];

        Assert.Equal(3, greeting.Consumed);
        Assert.True(greeting.Value.Methods.Contains(Socks5AuthMethod.UsernamePassword));
        Assert.Equal(ParseStatus.Done, auth.Status);
        Assert.Equal("alice"u8.ToArray(), username);
        Assert.Equal("s3cret"u8.ToArray(), password);
        Assert.Equal(new Socks5Request(Socks5Command.Connect, destination), request.Value);
        Assert.Equal(0, input.Length);
    }

    [Fact]
    public void Parse_PipelinedServerAnswers_ParsesInSequence()
    {
        var bound = Destination.FromAddress(IPAddress.Parse("203.0.113.7"), 40000);
        var buffer = new byte[64];
        var length = Socks5Codec.WriteMethodSelection(buffer, Socks5AuthMethod.UsernamePassword);
        length += Socks5Codec.WriteAuthReply(buffer.AsSpan(length), success: true);
        length += Socks5Codec.WriteReply(buffer.AsSpan(length), Socks5ReplyCode.Succeeded, bound);
        ReadOnlySpan<byte> input = buffer.AsSpan(0, length);

        var method = Socks5Codec.ParseMethodSelection(input);
        input = input[method.Consumed..];
        var auth = Socks5Codec.ParseAuthReply(input);
        input = input[auth.Consumed..];
        var reply = Socks5Codec.ParseReply(input);
        input = input[reply.Consumed..];

        Assert.Equal(Socks5AuthMethod.UsernamePassword, method.Value);
        Assert.True(auth.Value);
        Assert.Equal(new Socks5Reply(Socks5ReplyCode.Succeeded, bound), reply.Value);
        Assert.Equal(0, input.Length);
    }

    [Fact]
    public void ParseUsernamePassword_PipelinedAndCutShort_NeedsMoreData()
    {
        // A client that has sent part of its credentials: the server must wait, not misread them as a request.
        var buffer = new byte[64];
        var length = Socks5Codec.WriteGreeting(buffer, [Socks5AuthMethod.UsernamePassword]);
        length += Socks5Codec.WriteUsernamePassword(buffer.AsSpan(length), "alice"u8, "s3cret"u8);
        ReadOnlySpan<byte> input = buffer.AsSpan(0, length - 1);

        var greeting = Socks5Codec.ParseGreeting(input);
        var auth = Socks5Codec.ParseUsernamePassword(input[greeting.Consumed..]);

        Assert.Equal(ParseStatus.Done, greeting.Status);
        Assert.Equal(ParseStatus.NeedMoreData, auth.Status);
        Assert.Equal(0, auth.Consumed);
    }
}
