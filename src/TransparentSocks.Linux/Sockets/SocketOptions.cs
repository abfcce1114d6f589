using System.Net.Sockets;
using Tmds.Linux;
using TransparentSocks.Linux.Interop;
using static Tmds.Linux.LibC;
using Errno = TransparentSocks.Linux.Interop.Errno;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// The kernel's socket option numbers, one table for TCP and UDP sockets, and the options both set on a raw fd, so
/// both socket types set them one way.
/// </summary>
internal static unsafe class SocketOptions
{
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;

    public const int SO_REUSEPORT = 15;
    public const int SO_ERROR = 4;
    public const int SO_KEEPALIVE = 9;
    public const int SO_LINGER = 13;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int SO_ORIGINAL_DST = 80;
    public const int IP6T_SO_ORIGINAL_DST = 80;
    public const int SO_RCVBUF = 8;
    public const int SO_BINDTODEVICE = 25;
    public const int SO_MARK = 36;
    public const int SOL_IP = 0;
    public const int IP_TRANSPARENT = 19;
    public const int IP_RECVORIGDSTADDR = 20;
    public const int IPPROTO_IPV6 = 41;
    public const int IPV6_V6ONLY = 26;
    public const int IPV6_RECVORIGDSTADDR = 74;
    public const int IPV6_TRANSPARENT = 75;

    public static Errno Set(int fd, int level, int name, int value)
        => setsockopt(fd, level, name, &value, sizeof(int)) == 0 ? Errno.None : (Errno)errno;

    public static int Get(int fd, int level, int name)
    {
        int value = 0;
        socklen_t len = sizeof(int);
        return getsockopt(fd, level, name, &value, &len) == 0 ? value : -1;
    }

    public static Errno SetTransparent(int fd, AddressFamily family)
        => family == AddressFamily.InterNetworkV6 ? Set(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, 1) : Set(fd, SOL_IP, IP_TRANSPARENT, 1);

    public static Errno SetMark(int fd, uint mark) => Set(fd, SOL_SOCKET, SO_MARK, unchecked((int)mark));

    public static Errno SetBindToDevice(int fd, string interfaceName)
    {
        Span<byte> name = stackalloc byte[16];
        name.Clear();
        var n = System.Text.Encoding.ASCII.GetBytes(interfaceName.AsSpan(0, Math.Min(interfaceName.Length, 15)), name);
        fixed (byte* p = name)
        {
            return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p, (socklen_t)(n + 1)) == 0 ? Errno.None : (Errno)errno;
        }
    }
}
