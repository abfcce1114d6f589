using System.Globalization;
using System.Net.Sockets;
using Mono.Unix.Native;

namespace TransparentSocks.Daemon.Systemd;

/// <summary>
/// sd_listen_fds(3) without libsystemd: the listening sockets systemd opened for this process (a .socket unit),
/// passed as descriptors from 3 on, with <c>LISTEN_PID</c> and <c>LISTEN_FDS</c> saying how many and for whom.
/// </summary>
/// <remarks>
/// The control socket comes this way under systemd so that PID 1 creates it root:transparentsocks 0660. The daemon
/// runs as its own user with only NET_ADMIN, NET_RAW and NET_BIND_SERVICE, and without CAP_CHOWN it could not give
/// the file to root itself.
/// </remarks>
internal static class SocketActivation
{
    private const int FirstDescriptor = 3;

    /// <summary>
    /// Takes the passed stream socket bound to <paramref name="path"/>, or returns null when systemd passed none (or
    /// passed it to another process: <c>LISTEN_PID</c> is checked, as sd_listen_fds does). Call once.
    /// </summary>
    public static Socket? TakeUnixListener(string path)
    {
        var count = PassedCount();
        if (count == 0)
        {
            return null;
        }

        // The variables describe this process only; nft and ip, which the daemon runs, must not act on them.
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);

        Socket? taken = null;
        for (var fd = FirstDescriptor; fd < FirstDescriptor + count; fd++)
        {
            // systemd passes descriptors without close-on-exec, and every nft and ip the daemon runs would inherit them.
            _ = Syscall.fcntl(fd, FcntlCommand.F_SETFD, 1);
            if (taken is null && IsUnixStreamListenerAt(fd, path))
            {
                taken = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
            }
        }

        return taken;
    }

    private static int PassedCount()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("LISTEN_PID"), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || pid != Environment.ProcessId
            || !int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return 0;
        }

        // More than a handful would be a misconfigured unit; the bound keeps a bad value from walking the fd table.
        return Math.Clamp(count, 0, 64);
    }

    private static bool IsUnixStreamListenerAt(int fd, string path)
    {
        // Asked of the descriptor directly: a Socket over it would close or shut it down when disposed.
        if (Syscall.getsockopt(fd, UnixSocketProtocol.SOL_SOCKET, UnixSocketOptionName.SO_TYPE, out int type) != 0
            || type != (int)UnixSocketType.SOCK_STREAM
            || Syscall.getsockopt(fd, UnixSocketProtocol.SOL_SOCKET, UnixSocketOptionName.SO_ACCEPTCONN, out int listening) != 0
            || listening == 0)
        {
            return false;
        }

        var address = new SockaddrUn();
        return Syscall.getsockname(fd, address) == 0
            && address.sa_family == UnixAddressFamily.AF_UNIX
            && string.Equals(address.Path, path, StringComparison.Ordinal);
    }
}
