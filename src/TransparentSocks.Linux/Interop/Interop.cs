using System.Runtime.InteropServices;

namespace TransparentSocks.Linux.Interop;

/// <summary>
/// The system calls on the data path, declared here rather than taken from Tmds.LibC so that errno is captured
/// by the marshaller (SetLastError) right after the call, before the runtime can clobber it.
/// Cold-path calls and constants come from Tmds.LibC.
/// </summary>
internal static unsafe partial class Sys
{
    private const string Libc = "libc";

    public const int MSG_NOSIGNAL = 0x4000;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const uint SPLICE_F_MOVE = 1;
    public const uint SPLICE_F_NONBLOCK = 2;
    public const int SHUT_RD = 0;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
    public const int SOCK_DGRAM = 2;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_CTRUNC = 0x08;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint len, uint flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, uint* addrLen, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int connect(int fd, byte* addr, uint addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nuint len);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nuint len);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    public const int RLIMIT_NOFILE = 7;

    /// <summary>struct rlimit on every 64-bit Linux ABI: rlim_t is an unsigned long.</summary>
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int setrlimit(int resource, RLimit* limit);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int bind(int fd, byte* addr, uint addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getsockname(int fd, byte* addr, uint* addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint sendto(int fd, byte* buf, nuint len, int flags, byte* addr, uint addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int recvmmsg(int fd, MMsgHdr* msgs, uint vlen, int flags, nint timeout);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int sendmmsg(int fd, MMsgHdr* msgs, uint vlen, int flags);

    public static Errno LastErrno => (Errno)Marshal.GetLastPInvokeError();
}

/// <summary>struct iovec.</summary>
internal unsafe struct IoVec
{
    public byte* Base;
    public nuint Length;
}

/// <summary>struct msghdr (x86-64 and aarch64 layout: 56 bytes).</summary>
internal unsafe struct MsgHdr
{
    public byte* Name;
    public uint NameLength;
    public IoVec* Iov;
    public nuint IovLength;
    public byte* Control;
    public nuint ControlLength;
    public int Flags;
}

/// <summary>struct mmsghdr: a msghdr and the byte count the kernel fills in (64 bytes).</summary>
internal struct MMsgHdr
{
    public MsgHdr Header;
    public uint Length;
}
