using System.Buffers.Binary;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// Reads the ancillary data recvmsg returns (a sequence of cmsghdr on x86-64/aarch64 Linux: an 8-byte length, a
/// 4-byte level, a 4-byte type, then the data, each message padded to 8 bytes). Pure: spans in, results out, so a
/// truncated or hostile buffer is a unit-test case, not a crash.
/// </summary>
public static class ControlMessages
{
    public const int LevelIp = 0;   // SOL_IP
    public const int LevelIpv6 = 41; // SOL_IPV6
    public const int TypeIpOrigDstAddr = 20;    // IP_ORIGDSTADDR
    public const int TypeIpv6OrigDstAddr = 74;  // IPV6_ORIGDSTADDR

    private const int HeaderLength = 16;
    private const int Alignment = 8;

    /// <summary>Room for one original-destination message of either family.</summary>
    public const int OriginalDestinationSpace = HeaderLength + 32;

    /// <summary>
    /// Finds the IP_ORIGDSTADDR or IPV6_ORIGDSTADDR message that IP_RECVORIGDSTADDR asks the kernel to attach: the
    /// address a TPROXY-diverted datagram was sent to. False when it is absent or the buffer is malformed.
    /// </summary>
    public static bool TryFindOriginalDestination(ReadOnlySpan<byte> control, out UdpEndpoint destination)
    {
        destination = default;
        var offset = 0;
        while (control.Length - offset >= HeaderLength)
        {
            var length = BinaryPrimitives.ReadUInt64LittleEndian(control[offset..]);
            if (length < HeaderLength || length > (ulong)(control.Length - offset))
            {
                return false;
            }

            var level = BinaryPrimitives.ReadInt32LittleEndian(control[(offset + 8)..]);
            var type = BinaryPrimitives.ReadInt32LittleEndian(control[(offset + 12)..]);
            var data = control.Slice(offset + HeaderLength, (int)length - HeaderLength);
            if ((level == LevelIp && type == TypeIpOrigDstAddr) || (level == LevelIpv6 && type == TypeIpv6OrigDstAddr))
            {
                return UdpEndpoint.TryRead(data, out destination);
            }

            offset += Align((int)length);
        }

        return false;
    }

    /// <summary>Writes one message, as the kernel would; for tests and for sendmsg's own control data.</summary>
    public static int Write(Span<byte> control, int level, int type, ReadOnlySpan<byte> data)
    {
        var length = HeaderLength + data.Length;
        var total = Align(length);
        control[..total].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(control, (ulong)length);
        BinaryPrimitives.WriteInt32LittleEndian(control[8..], level);
        BinaryPrimitives.WriteInt32LittleEndian(control[12..], type);
        data.CopyTo(control[HeaderLength..]);
        return total;
    }

    private static int Align(int length) => (length + Alignment - 1) & ~(Alignment - 1);
}
