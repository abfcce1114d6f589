using System.Net;
using CsCheck;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5CodecPropertyTests
{
    private const int Iterations = 2_000;

    private static readonly Gen<int> Port = Gen.Int[0, 65535];

    private static readonly Gen<string> HostName = Gen.OneOf(
        Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-."].Array[1, 255].Select(c => new string(c)),
        // Latin-1 beyond ASCII must survive too: clients do send raw UTF-8 names.
        Gen.Char[(char)0x21, (char)0xFF].Where(c => c is not '/' and not (char)0x7F).Array[1, 255].Select(c => new string(c)));

    private static readonly Gen<Destination> AnyDestination = Gen.OneOf(
        Gen.Select(Gen.Byte.Array[4], Port, (b, p) => Destination.FromAddress(new IPAddress(b), p)),
        Gen.Select(Gen.Byte.Array[16], Port, (b, p) => Destination.FromAddress(new IPAddress(b), p)),
        Gen.Select(HostName, Port, Destination.FromHost));

    private static readonly Gen<Socks5Command> Command = Gen.Byte[1, 3].Select(b => (Socks5Command)b);

    private static readonly Gen<Socks5ReplyCode> ReplyCode = Gen.Byte[0, 8].Select(b => (Socks5ReplyCode)b);

    private static readonly Gen<Socks5AuthMethod[]> OfferedMethods = Gen.Byte[0, 254].Select(b => (Socks5AuthMethod)b).Array[1, 255];

    private static readonly Gen<byte[]> Secret = Gen.Byte.Array[1, 255];

    /// <summary>A valid message of any kind, as the bytes its writer produced.</summary>
    private static readonly Gen<(MessageKind Kind, byte[] Bytes)> AnyValidMessage = Gen.OneOf(
        OfferedMethods.Select(m => (MessageKind.Greeting, Write(d => Socks5Codec.WriteGreeting(d, m)))),
        Gen.Select(Secret, Secret, (u, p) => (MessageKind.UsernamePassword, Write(d => Socks5Codec.WriteUsernamePassword(d, u, p)))),
        Gen.Select(Command, AnyDestination, (c, t) => (MessageKind.Request, Write(d => Socks5Codec.WriteRequest(d, c, t)))),
        Gen.Byte.Select(m => (MessageKind.MethodSelection, Write(d => Socks5Codec.WriteMethodSelection(d, (Socks5AuthMethod)m)))),
        Gen.Bool.Select(s => (MessageKind.AuthReply, Write(d => Socks5Codec.WriteAuthReply(d, s)))),
        Gen.Select(ReplyCode, AnyDestination, (c, b) => (MessageKind.Reply, Write(d => Socks5Codec.WriteReply(d, c, b)))),
        Gen.Select(Gen.Byte, AnyDestination, (f, t) => (MessageKind.UdpHeader, Write(d => Socks5Codec.WriteUdpHeader(d, t, f)))));

    /// <summary>
    /// Random bytes, half of them behind a plausible start so that the parsers get past the version byte
    /// and the random part lands in lengths and addresses.
    /// </summary>
    private static readonly Gen<byte[]> NoisyInput = Gen.OneOf(
        Gen.Byte.Array[0, 600],
        Gen.Select(
            Gen.OneOf(Gen.Const(Hex("05")), Gen.Const(Hex("01")), Gen.Const(Hex("05 01 00")), Gen.Const(Hex("05 00 00")),
                Gen.Const(Hex("00 00 00")), Gen.Const(Hex("05 01 00 03")), Gen.Const(Hex("00 00 00 03"))),
            Gen.Byte.Array[0, 300],
            (head, tail) => head.Concat(tail).ToArray()));

    [Fact]
    public void Request_RandomValid_RoundTrips()
    {
        Gen.Select(Command, AnyDestination).Sample((command, destination) =>
        {
            var bytes = Write(d => Socks5Codec.WriteRequest(d, command, destination));

            var result = Socks5Codec.ParseRequest(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(new Socks5Request(command, destination), result.Value);
            Assert.Equal(Socks5Codec.GetRequestLength(destination), bytes.Length);
        }, iter: Iterations);
    }

    [Fact]
    public void Reply_RandomValid_RoundTrips()
    {
        Gen.Select(ReplyCode, AnyDestination).Sample((code, bound) =>
        {
            var expected = bound.Address is { IsIPv4MappedToIPv6: true } mapped
                ? Destination.FromAddress(mapped.MapToIPv4(), bound.Port)
                : bound;
            var bytes = Write(d => Socks5Codec.WriteReply(d, code, bound));

            var result = Socks5Codec.ParseReply(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(new Socks5Reply(code, expected), result.Value);
        }, iter: Iterations);
    }

    [Fact]
    public void UdpHeader_RandomValid_RoundTrips()
    {
        Gen.Select(Gen.Byte, AnyDestination, Gen.Byte.Array[0, 64]).Sample((fragment, destination, payload) =>
        {
            var header = Write(d => Socks5Codec.WriteUdpHeader(d, destination, fragment));
            var datagram = header.Concat(payload).ToArray();

            var result = Socks5Codec.ParseUdpHeader(datagram);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(new Socks5UdpHeader(fragment, destination, header.Length), result.Value);
            Assert.Equal(payload, datagram[result.Consumed..]);
        }, iter: Iterations);
    }

    [Fact]
    public void Greeting_RandomValid_RoundTrips()
    {
        OfferedMethods.Sample(methods =>
        {
            var bytes = Write(d => Socks5Codec.WriteGreeting(d, methods));

            var result = Socks5Codec.ParseGreeting(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(Socks5MethodSet.Create(methods), result.Value.Methods);
            Assert.Equal(methods.Distinct().Count(), result.Value.Methods.Count);
        }, iter: Iterations);
    }

    [Fact]
    public void UsernamePassword_RandomValid_RoundTrips()
    {
        Gen.Select(Secret, Secret).Sample((username, password) =>
        {
            var bytes = Write(d => Socks5Codec.WriteUsernamePassword(d, username, password));

            var result = Socks5Codec.ParseUsernamePassword(bytes);

            Assert.Equal(ParseStatus.Done, result.Status);
            Assert.Equal(bytes.Length, result.Consumed);
            Assert.Equal(username, bytes[result.Value.Username]);
            Assert.Equal(password, bytes[result.Value.Password]);
        }, iter: Iterations);
    }

    [Fact]
    public void Parse_RandomValidMessageCutShort_NeedsMoreData()
    {
        AnyValidMessage
            .SelectMany(m => Gen.Int[0, m.Bytes.Length - 1].Select(cut => (m.Kind, m.Bytes, cut)))
            .Sample((kind, bytes, cut) =>
            {
                var outcome = Parse(kind, bytes.AsSpan(0, cut));

                Assert.Equal(new Outcome(ParseStatus.NeedMoreData, 0, Socks5ParseError.None, outcome.Value), outcome);
            }, iter: Iterations);
    }

    [Fact]
    public void Parse_RandomValidMessageWithTrailer_ConsumesOnlyTheMessage()
    {
        Gen.Select(AnyValidMessage, Gen.Byte.Array[1, 32]).Sample((message, trailer) =>
        {
            var outcome = Parse(message.Kind, message.Bytes.Concat(trailer).ToArray());

            Assert.Equal(ParseStatus.Done, outcome.Status);
            Assert.Equal(message.Bytes.Length, outcome.Consumed);
        }, iter: Iterations);
    }

    [Fact]
    public void Parse_RandomBytes_NeverThrowsAndKeepsItsContract()
    {
        NoisyInput.Sample(input =>
        {
            foreach (var kind in Enum.GetValues<MessageKind>())
            {
                var outcome = Parse(kind, input);

                Assert.True(Enum.IsDefined(outcome.Status));
                Assert.InRange(outcome.Consumed, 0, input.Length);
                Assert.Equal(outcome.Status == ParseStatus.Done, outcome.Consumed > 0);
                Assert.Equal(outcome.Status == ParseStatus.Invalid, outcome.Error != Socks5ParseError.None);
            }
        }, iter: Iterations * 5);
    }

    [Fact]
    public void Parse_RandomBytes_ParsedMessageWritesBackToSameBytes()
    {
        // Whatever a parser accepts must be exactly what the writer would have produced, so nothing is lost in relaying.
        NoisyInput.Sample(input =>
        {
            var request = Socks5Codec.ParseRequest(input);
            if (request.IsDone && request.Value.Destination.IsDomain)
            {
                var rewritten = Write(d => Socks5Codec.WriteRequest(d, request.Value.Command, request.Value.Destination));
                Assert.Equal(input[..request.Consumed], rewritten);
            }

            var header = Socks5Codec.ParseUdpHeader(input);
            if (header.IsDone && header.Value.Destination.IsDomain)
            {
                var rewritten = Write(d => Socks5Codec.WriteUdpHeader(d, header.Value.Destination, header.Value.Fragment));
                Assert.Equal(input[..header.Consumed], rewritten);
            }
        }, iter: Iterations * 5);
    }
}
