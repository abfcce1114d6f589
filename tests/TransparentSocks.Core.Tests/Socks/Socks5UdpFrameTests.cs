using System.Net;
using CsCheck;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

/// <summary>The relay's allocation-free UDP header parse and write, held to the codec's own parse.</summary>
[Trait("Category", "Unit")]
public sealed class Socks5UdpFrameTests
{
    private static readonly Gen<byte[]> NoisyDatagram = Gen.OneOf(
        Gen.Byte.Array[0, 300],
        Gen.Select(
            Gen.OneOf(Gen.Const(Hex("00 00 00 01")), Gen.Const(Hex("00 00 00 03")), Gen.Const(Hex("00 00 00 04")), Gen.Const(Hex("00 00 07 01"))),
            Gen.Byte.Array[0, 300],
            (head, tail) => head.Concat(tail).ToArray()));

    private static Destination AddressOf(byte[] datagram, Socks5UdpFrame frame)
    {
        var bytes = datagram.AsSpan(frame.Address.Offset, frame.Address.Length);
        return frame.Address.Type == Socks5AddressType.DomainName
            ? Destination.FromHost(System.Text.Encoding.Latin1.GetString(bytes), frame.Address.Port)
            : Destination.FromAddress(new IPAddress(bytes), frame.Address.Port);
    }

    [Fact]
    public void ParseUdpFrame_AnyInput_AgreesWithParseUdpHeader()
    {
        NoisyDatagram.Sample(datagram =>
        {
            var frame = Socks5Codec.ParseUdpFrame(datagram);
            var header = Socks5Codec.ParseUdpHeader(datagram);
            Assert.Equal(header.Status, frame.Status);
            Assert.Equal(header.Error, frame.Error);
            Assert.Equal(header.Consumed, frame.Consumed);
            if (frame.IsDone)
            {
                Assert.Equal(header.Value.Fragment, frame.Value.Fragment);
                Assert.Equal(header.Value.HeaderLength, frame.Value.HeaderLength);
                Assert.Equal(header.Value.Destination, AddressOf(datagram, frame.Value));
            }
        }, iter: 5_000);
    }

    [Theory]
    [InlineData("00 00 00 01 CB 00 71 02 00 35")]
    [InlineData("00 00 00 04 20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 02 01 BB")]
    [InlineData("00 00 00 03 07 65 78 61 6D 70 6C 65 00 50")]
    public void ParseUdpFrame_EveryPrefixOfAValidHeader_NeedsMoreData(string hex)
    {
        var datagram = Hex(hex);
        for (var length = 0; length < datagram.Length; length++)
        {
            Assert.True(Socks5Codec.ParseUdpFrame(datagram.AsSpan(0, length)).NeedsMoreData, $"prefix of {length} bytes");
        }

        var whole = Socks5Codec.ParseUdpFrame(datagram);
        Assert.True(whole.IsDone);
        Assert.Equal(datagram.Length, whole.Value.HeaderLength);
    }

    [Theory]
    [InlineData("01 00 00 01 CB 00 71 02 00 35", Socks5ParseError.ReservedNotZero)]
    [InlineData("00 01 00 01 CB 00 71 02 00 35", Socks5ParseError.ReservedNotZero)]
    [InlineData("00 00 00 02 CB 00 71 02 00 35", Socks5ParseError.UnknownAddressType)]
    [InlineData("00 00 00 03 00 00 50", Socks5ParseError.EmptyDomain)]
    [InlineData("00 00 00 03 03 61 0A 62 00 50", Socks5ParseError.BadDomain)]
    public void ParseUdpFrame_MalformedHeader_IsRejectedWithItsReason(string hex, Socks5ParseError reason)
    {
        var result = Socks5Codec.ParseUdpFrame(Hex(hex));
        Assert.True(result.IsInvalid);
        Assert.Equal(reason, result.Error);
    }

    [Fact]
    public void ParseUdpFrame_NonZeroFragment_IsReportedForTheCallerToDrop()
    {
        var result = Socks5Codec.ParseUdpFrame(Hex("00 00 03 01 CB 00 71 02 00 35 AA"));
        Assert.True(result.IsDone);
        Assert.Equal(3, result.Value.Fragment);
    }

    [Theory]
    [InlineData("203.0.113.2", 53)]
    [InlineData("2001:db8::2", 443)]
    public void WriteUdpHeaderBefore_WritesRightBeforeThePayload_AndParsesBack(string address, int port)
    {
        var bytes = IPAddress.Parse(address).GetAddressBytes();
        var buffer = new byte[64];
        buffer.AsSpan().Fill(0xA5);
        const int payloadAt = 32;
        buffer[payloadAt] = 0x42;

        var length = Socks5Codec.WriteUdpHeaderBefore(buffer.AsSpan(0, payloadAt), bytes, (ushort)port);

        var parsed = Socks5Codec.ParseUdpHeader(buffer.AsSpan(payloadAt - length));
        Assert.True(parsed.IsDone);
        Assert.Equal(length, parsed.Value.HeaderLength);
        Assert.Equal(0, parsed.Value.Fragment);
        Assert.Equal(Destination.FromAddress(IPAddress.Parse(address), port), parsed.Value.Destination);
        Assert.Equal(0x42, buffer[payloadAt]);
        Assert.Equal(0xA5, buffer[payloadAt - length - 1]);
    }
}
