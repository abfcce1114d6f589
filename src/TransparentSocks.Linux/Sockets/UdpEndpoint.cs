using System.Buffers.Binary;
using System.Net;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// An IPv4 or IPv6 address and port as a plain value: the key of a UDP flow or of a cached reply socket, read
/// straight from a sockaddr without allocating (an <see cref="IPEndPoint"/> per datagram would). IPv4 is kept in its
/// IPv4-mapped IPv6 form, so an IPv4 peer seen on a dual-stack socket and on an IPv4 one is the same key.
/// </summary>
public readonly record struct UdpEndpoint(ulong High, ulong Low, ushort Port)
{
    private const ulong MappedPrefix = 0x0000_FFFF_0000_0000UL;

    public bool IsIPv4 => High == 0 && (Low & 0xFFFF_FFFF_0000_0000UL) == MappedPrefix;

    /// <summary>0.0.0.0 or ::, which a SOCKS5 server's BND.ADDR uses for "the address you reached me at".</summary>
    public bool IsUnspecified => High == 0 && (Low == 0 || Low == MappedPrefix);

    public System.Net.Sockets.AddressFamily Family => IsIPv4 ? System.Net.Sockets.AddressFamily.InterNetwork : System.Net.Sockets.AddressFamily.InterNetworkV6;

    public UdpEndpoint WithPort(ushort port) => this with { Port = port };

    /// <summary>From an address's 4 or 16 bytes in network order, as a SOCKS5 header carries them.</summary>
    public static bool TryFromAddressBytes(ReadOnlySpan<byte> address, ushort port, out UdpEndpoint endpoint)
    {
        switch (address.Length)
        {
            case 4:
                endpoint = new(0, MappedPrefix | BinaryPrimitives.ReadUInt32BigEndian(address), port);
                return true;
            case 16:
                endpoint = new(BinaryPrimitives.ReadUInt64BigEndian(address), BinaryPrimitives.ReadUInt64BigEndian(address[8..]), port);
                return true;
            default:
                endpoint = default;
                return false;
        }
    }

    /// <summary>Writes the address's bytes: 4 for IPv4, 16 otherwise. Returns how many.</summary>
    public int WriteAddressBytes(Span<byte> address)
    {
        if (IsIPv4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(address, (uint)Low);
            return 4;
        }

        BinaryPrimitives.WriteUInt64BigEndian(address, High);
        BinaryPrimitives.WriteUInt64BigEndian(address[8..], Low);
        return 16;
    }

    /// <summary>Reads a sockaddr_in or sockaddr_in6 (as recvmsg and the IP_ORIGDSTADDR message give them).</summary>
    public static bool TryRead(ReadOnlySpan<byte> sockaddr, out UdpEndpoint endpoint)
    {
        endpoint = default;
        if (sockaddr.Length < 2)
        {
            return false;
        }

        var family = BinaryPrimitives.ReadUInt16LittleEndian(sockaddr);
        if (family == SockAddr.AF_INET && sockaddr.Length >= 8)
        {
            endpoint = new(0, MappedPrefix | BinaryPrimitives.ReadUInt32BigEndian(sockaddr[4..]), BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            return true;
        }

        if (family == SockAddr.AF_INET6 && sockaddr.Length >= 24)
        {
            endpoint = new(
                BinaryPrimitives.ReadUInt64BigEndian(sockaddr[8..]),
                BinaryPrimitives.ReadUInt64BigEndian(sockaddr[16..]),
                BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            return true;
        }

        return false;
    }

    public static UdpEndpoint From(IPEndPoint endPoint)
    {
        Span<byte> sockaddr = stackalloc byte[SockAddr.MaxLength];
        var length = SockAddr.Write(endPoint, sockaddr);
        return TryRead(sockaddr[..length], out var endpoint) ? endpoint : throw new ArgumentException("not an IPv4 or IPv6 endpoint", nameof(endPoint));
    }

    /// <summary>Writes it as a sockaddr of the socket's family: sockaddr_in for an IPv4 socket, sockaddr_in6 otherwise.</summary>
    public int Write(Span<byte> sockaddr, bool ipv6Socket)
    {
        sockaddr[..SockAddr.MaxLength].Clear();
        if (!ipv6Socket)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(sockaddr, SockAddr.AF_INET);
            BinaryPrimitives.WriteUInt16BigEndian(sockaddr[2..], Port);
            BinaryPrimitives.WriteUInt32BigEndian(sockaddr[4..], (uint)Low);
            return 16;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(sockaddr, SockAddr.AF_INET6);
        BinaryPrimitives.WriteUInt16BigEndian(sockaddr[2..], Port);
        BinaryPrimitives.WriteUInt64BigEndian(sockaddr[8..], High);
        BinaryPrimitives.WriteUInt64BigEndian(sockaddr[16..], Low);
        return 28;
    }

    public IPEndPoint ToIPEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, High);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], Low);
        return IsIPv4 ? new IPEndPoint(new IPAddress(bytes[12..]), Port) : new IPEndPoint(new IPAddress(bytes), Port);
    }

    public override string ToString() => ToIPEndPoint().ToString();
}
