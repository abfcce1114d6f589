using System.Buffers.Binary;
using TransparentSocks.Socks;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// A datagram to or from a UDP ASSOCIATE relay: the allocation-free frame parse and the full header parse must
/// agree, the frame must point inside the header, and the header written back parses to the same value.
/// </summary>
public static class UdpHeaderTarget
{
    public static void Run(byte[] data)
    {
        ReadOnlySpan<byte> datagram = data;
        var frame = ParseChecks.Check("udp frame", Socks5Codec.ParseUdpFrame, datagram, Socks5Codec.MaxUdpHeaderLength);
        var header = ParseChecks.Check("udp header", Socks5Codec.ParseUdpHeader, datagram, Socks5Codec.MaxUdpHeaderLength);
        InvariantViolationException.Check(frame.Status == header.Status && frame.Error == header.Error && frame.Consumed == header.Consumed,
            $"udp: the frame parse gave {frame}, the header parse {header}");
        if (!frame.IsDone)
        {
            return;
        }

        var at = frame.Value.Address;
        InvariantViolationException.Check(frame.Value.HeaderLength == frame.Consumed && header.Value.HeaderLength == header.Consumed,
            $"udp: header lengths {frame.Value.HeaderLength} and {header.Value.HeaderLength}, consumed {frame.Consumed}");
        InvariantViolationException.Check(frame.Value.Fragment == datagram[2] && header.Value.Fragment == datagram[2], "udp: FRAG is not the third byte");
        InvariantViolationException.Check((byte)at.Type == datagram[3], $"udp: address type {at.Type} from ATYP {datagram[3]}");
        InvariantViolationException.Check(at.Offset >= 4 && at.Length >= 1 && at.Offset + at.Length + 2 == frame.Value.HeaderLength,
            $"udp: the address at {at.Offset}+{at.Length} does not end 2 bytes before the payload at {frame.Value.HeaderLength}");
        InvariantViolationException.Check(at.Port == BinaryPrimitives.ReadUInt16BigEndian(datagram[(at.Offset + at.Length)..]), "udp: the port is not the two bytes after the address");
        InvariantViolationException.Check(header.Value.Destination.Port == at.Port && !header.Value.Destination.IsDefault,
            $"udp: the header's destination {header.Value.Destination} does not have the frame's port {at.Port}");

        var written = new byte[Socks5Codec.MaxUdpHeaderLength];
        var length = Socks5Codec.WriteUdpHeader(written, header.Value.Destination, header.Value.Fragment);
        var again = Socks5Codec.ParseUdpHeader(written.AsSpan(0, length));
        InvariantViolationException.Check(again.IsDone && again.Value == header.Value with { HeaderLength = length },
            $"udp: {header} written back parses as {again}");

        if (at.Type != Socks5AddressType.DomainName && header.Value.Fragment == 0)
        {
            // The relay's reply path writes the header in front of the payload; it must be the bytes the client sent.
            var before = new byte[Socks5Codec.MaxUdpHeaderLength];
            var beforeLength = Socks5Codec.WriteUdpHeaderBefore(before, datagram.Slice(at.Offset, at.Length), at.Port);
            InvariantViolationException.Check(before.AsSpan(before.Length - beforeLength).SequenceEqual(datagram[..frame.Consumed]),
                "udp: the header written before a payload is not the one parsed");
        }
    }
}
