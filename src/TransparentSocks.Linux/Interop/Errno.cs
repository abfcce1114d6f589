namespace TransparentSocks.Linux.Interop;

/// <summary>The Linux errno values the data path reacts to. Anything else is carried as its raw number.</summary>
public enum Errno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ESPIPE = 29,
    EPIPE = 32,
    ENOSYS = 38,
    ENODEV = 19,
    ENOTSOCK = 88,
    EOPNOTSUPP = 95,
    EAFNOSUPPORT = 97,
    EADDRINUSE = 98,
    EADDRNOTAVAIL = 99,
    ENETDOWN = 100,
    ENETUNREACH = 101,
    ENETRESET = 102,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOBUFS = 105,
    EISCONN = 106,
    ENOTCONN = 107,
    ETIMEDOUT = 110,
    ECONNREFUSED = 111,
    EHOSTDOWN = 112,
    EHOSTUNREACH = 113,
    EALREADY = 114,
    EINPROGRESS = 115,
    ECANCELED = 125,
}

public static class ErrnoExtensions
{
    /// <summary>Maps to the portable enum the SOCKS5 reply-code table is written against.</summary>
    public static System.Net.Sockets.SocketError ToSocketError(this Errno errno) => errno switch
    {
        Errno.None => System.Net.Sockets.SocketError.Success,
        Errno.ENETUNREACH => System.Net.Sockets.SocketError.NetworkUnreachable,
        Errno.ENETDOWN => System.Net.Sockets.SocketError.NetworkDown,
        Errno.EHOSTUNREACH => System.Net.Sockets.SocketError.HostUnreachable,
        Errno.EHOSTDOWN => System.Net.Sockets.SocketError.HostDown,
        Errno.ECONNREFUSED => System.Net.Sockets.SocketError.ConnectionRefused,
        Errno.ETIMEDOUT => System.Net.Sockets.SocketError.TimedOut,
        Errno.ECONNRESET => System.Net.Sockets.SocketError.ConnectionReset,
        Errno.ECONNABORTED => System.Net.Sockets.SocketError.ConnectionAborted,
        Errno.EACCES or Errno.EPERM => System.Net.Sockets.SocketError.AccessDenied,
        Errno.EAFNOSUPPORT => System.Net.Sockets.SocketError.AddressFamilyNotSupported,
        Errno.EADDRINUSE => System.Net.Sockets.SocketError.AddressAlreadyInUse,
        Errno.EADDRNOTAVAIL => System.Net.Sockets.SocketError.AddressNotAvailable,
        Errno.EMFILE or Errno.ENFILE => System.Net.Sockets.SocketError.TooManyOpenSockets,
        Errno.EPIPE or Errno.ENOTCONN => System.Net.Sockets.SocketError.Shutdown,
        Errno.ECANCELED => System.Net.Sockets.SocketError.OperationAborted,
        Errno.ENOBUFS or Errno.ENOMEM => System.Net.Sockets.SocketError.NoBufferSpaceAvailable,
        _ => System.Net.Sockets.SocketError.SocketError,
    };

    public static string Describe(this Errno errno) => errno switch
    {
        Errno.None => "ok",
        Errno.ECONNRESET => "connection reset by peer",
        Errno.ECONNREFUSED => "connection refused",
        Errno.ETIMEDOUT => "timed out",
        Errno.ENETUNREACH => "network unreachable",
        Errno.EHOSTUNREACH => "host unreachable",
        Errno.EPIPE => "broken pipe",
        Errno.ECANCELED => "cancelled",

        // Exhaustion has to be recognisable in a log at a glance, by the name an operator searches for.
        Errno.EMFILE => "too many open files (EMFILE: the process's descriptor limit)",
        Errno.ENFILE => "too many open files in the system (ENFILE)",
        Errno.ENOBUFS => "no buffer space (ENOBUFS)",
        Errno.ENOMEM => "out of memory (ENOMEM)",
        _ => Enum.IsDefined(errno) ? $"errno {(int)errno} ({errno})" : $"errno {(int)errno}",
    };
}
