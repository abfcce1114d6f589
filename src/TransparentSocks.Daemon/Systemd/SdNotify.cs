using System.Net.Sockets;
using System.Text;

namespace TransparentSocks.Daemon.Systemd;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram of <c>KEY=VALUE</c> lines to the socket named by
/// <c>NOTIFY_SOCKET</c>. Written here rather than taken from Microsoft.Extensions.Hosting.Systemd because that package
/// sends only READY and STOPPING, and this is twenty lines with no native dependency.
/// </summary>
internal sealed class SdNotify : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endPoint;

    private SdNotify(string path)
    {
        // A leading '@' names an abstract socket; .NET takes a leading NUL for that.
        _endPoint = new UnixDomainSocketEndPoint(path[0] == '@' ? "\0" + path[1..] : path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>The notifier systemd asked for, or null when the daemon was not started as a Type=notify unit.</summary>
    public static SdNotify? FromEnvironment()
    {
        var path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path) || (path[0] != '/' && path[0] != '@'))
        {
            return null;
        }

        return new SdNotify(path);
    }

    /// <summary>
    /// The watchdog interval systemd expects pings within, or null when WatchdogSec is off or meant for another process.
    /// </summary>
    public static TimeSpan? WatchdogInterval()
    {
        var pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            return null;
        }

        return ulong.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out var usec) && usec > 0
            ? TimeSpan.FromMicroseconds(usec)
            : null;
    }

    /// <summary>Sends one state change; false when systemd's socket is gone, which must never stop the daemon.</summary>
    public bool Send(string state)
    {
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), SocketFlags.None, _endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    public void Dispose() => _socket.Dispose();
}
