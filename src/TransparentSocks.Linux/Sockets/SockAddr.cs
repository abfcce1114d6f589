using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.Linux.Sockets;

/// <summary>Converts between <see cref="IPEndPoint"/> and the kernel's sockaddr_in / sockaddr_in6 layout.</summary>
internal static class SockAddr
{
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int MaxLength = 28;

    public static int Write(IPEndPoint endPoint, Span<byte> dest)
    {
        dest[..MaxLength].Clear();
        if (endPoint.AddressFamily == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(dest, AF_INET);
            BinaryPrimitives.WriteUInt16BigEndian(dest[2..], (ushort)endPoint.Port);
            endPoint.Address.TryWriteBytes(dest.Slice(4, 4), out _);
            return 16;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(dest, AF_INET6);
        BinaryPrimitives.WriteUInt16BigEndian(dest[2..], (ushort)endPoint.Port);
        endPoint.Address.TryWriteBytes(dest.Slice(8, 16), out _);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[24..], (uint)endPoint.Address.ScopeId);
        return 28;
    }

    public static IPEndPoint? Read(ReadOnlySpan<byte> src)
    {
        if (src.Length < 2)
        {
            return null;
        }

        var family = BinaryPrimitives.ReadUInt16LittleEndian(src);
        if (family == AF_INET && src.Length >= 8)
        {
            return new IPEndPoint(new IPAddress(src.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(src[2..]));
        }

        if (family == AF_INET6 && src.Length >= 24)
        {
            var scope = src.Length >= 28 ? BinaryPrimitives.ReadUInt32LittleEndian(src[24..]) : 0;
            return new IPEndPoint(new IPAddress(src.Slice(8, 16), scope), BinaryPrimitives.ReadUInt16BigEndian(src[2..]));
        }

        return null;
    }
}
