using System.Net;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Tests.Sockets;

[Trait("Category", "Unit")]
public sealed class ControlMessagesTests
{
    private static byte[] SockaddrIn(string address, ushort port)
    {
        var endpoint = UdpEndpoint.From(new IPEndPoint(IPAddress.Parse(address), port));
        var buffer = new byte[28];
        var ipv6 = IPAddress.Parse(address).AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        return buffer[..endpoint.Write(buffer, ipv6)];
    }

    private static byte[] Message(int level, int type, byte[] data)
    {
        var buffer = new byte[64];
        return buffer[..ControlMessages.Write(buffer, level, type, data)];
    }

    [Theory]
    [InlineData("203.0.113.2", (ushort)53, ControlMessages.LevelIp, ControlMessages.TypeIpOrigDstAddr)]
    [InlineData("2001:db8::2", (ushort)443, ControlMessages.LevelIpv6, ControlMessages.TypeIpv6OrigDstAddr)]
    public void TryFindOriginalDestination_TheKernelsMessage_GivesTheAddressTheDatagramWasSentTo(string address, ushort port, int level, int type)
    {
        var control = Message(level, type, SockaddrIn(address, port));
        Assert.True(ControlMessages.TryFindOriginalDestination(control, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), destination.ToIPEndPoint());
    }

    [Fact]
    public void TryFindOriginalDestination_AfterAnotherMessage_SkipsItByItsPaddedLength()
    {
        // A 4-byte payload (such as IP_TTL) pads to 24 bytes before the next header.
        byte[] control = [.. Message(ControlMessages.LevelIp, 2, [64, 0, 0, 0]), .. Message(ControlMessages.LevelIp, ControlMessages.TypeIpOrigDstAddr, SockaddrIn("198.51.100.9", 5353))];
        Assert.True(ControlMessages.TryFindOriginalDestination(control, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 5353), destination.ToIPEndPoint());
    }

    [Fact]
    public void TryFindOriginalDestination_Absent_IsFalse()
    {
        Assert.False(ControlMessages.TryFindOriginalDestination([], out _));
        Assert.False(ControlMessages.TryFindOriginalDestination(Message(ControlMessages.LevelIp, 2, [64, 0, 0, 0]), out _));
    }

    /// <summary>Every truncation of a valid buffer, and lengths that lie, give false rather than an exception.</summary>
    [Fact]
    public void TryFindOriginalDestination_TruncatedOrLyingLengths_IsFalseNeverAThrow()
    {
        var control = Message(ControlMessages.LevelIp, ControlMessages.TypeIpOrigDstAddr, SockaddrIn("203.0.113.2", 53));
        for (var length = 0; length < 16 + 8; length++)
        {
            Assert.False(ControlMessages.TryFindOriginalDestination(control.AsSpan(0, length), out _));
        }

        foreach (var lie in new ulong[] { 0, 15, 1000, ulong.MaxValue })
        {
            var bad = control.ToArray();
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bad, lie);
            Assert.False(ControlMessages.TryFindOriginalDestination(bad, out _));
        }
    }

    [Fact]
    public void UdpEndpoint_IPv4AndItsMappedForm_AreTheSameKey()
    {
        var plain = UdpEndpoint.From(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 9));
        var mapped = UdpEndpoint.From(new IPEndPoint(IPAddress.Parse("::ffff:192.0.2.7"), 9));
        Assert.Equal(plain, mapped);
        Assert.True(plain.IsIPv4);
        Assert.False(UdpEndpoint.From(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 9)).IsIPv4);
    }

    [Theory]
    [InlineData("192.0.2.7", false)]
    [InlineData("192.0.2.7", true)]
    [InlineData("2001:db8::7", true)]
    public void UdpEndpoint_WriteThenRead_RoundTrips(string address, bool ipv6Socket)
    {
        var endpoint = UdpEndpoint.From(new IPEndPoint(IPAddress.Parse(address), 65535));
        var buffer = new byte[28];
        var length = endpoint.Write(buffer, ipv6Socket);
        Assert.Equal(ipv6Socket ? 28 : 16, length);
        Assert.True(UdpEndpoint.TryRead(buffer.AsSpan(0, length), out var read));
        Assert.Equal(endpoint, read);
    }
}
