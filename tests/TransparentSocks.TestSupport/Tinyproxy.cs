using System.Globalization;
using System.Net;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A real tinyproxy HTTP proxy (Debian 12: 1.11.1), run in the foreground (<c>-d</c>) with a generated config
/// file so its pid stays ours. The Debian package also installs a system service; nothing here starts or needs
/// it. At <c>LogLevel Connect</c> tinyproxy logs each request to stderr, e.g.
/// <c>Request (file descriptor 4): CONNECT 127.0.0.1:9999 HTTP/1.1</c>, and each CONNECT it carried with
/// <c>Established connection to host "127.0.0.1"</c>. With a <c>BasicAuth</c> user it answers 407 to a request
/// without <c>Proxy-Authorization</c> but 401 to one with wrong credentials (1.11.1 does so for CONNECT too); a
/// CONNECT to a port outside <c>ConnectPort</c> gets 403.
/// </summary>
public sealed class Tinyproxy : IAsyncDisposable
{
    private const int StartAttempts = 3;

    private readonly DirectoryInfo _directory;

    private Tinyproxy(ExternalProcess process, IPEndPoint endPoint, DirectoryInfo directory, string? user, string? password)
    {
        Process = process;
        EndPoint = endPoint;
        _directory = directory;
        User = user;
        Password = password;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The BasicAuth user clients must send, or null when no authentication is required.</summary>
    public string? User { get; }

    public string? Password { get; }

    public ExternalProcess Process { get; }

    public string ConfigPath => Path.Combine(_directory.FullName, "tinyproxy.conf");

    /// <summary>Everything tinyproxy printed so far (its log goes to stderr in the foreground).</summary>
    public string Log => Process.Error + Process.Output;

    /// <summary>How many CONNECT requests tinyproxy logged so far (answered or refused).</summary>
    public int ConnectRequests => CountOccurrences(Log, "): CONNECT ");

    /// <summary>How many connections tinyproxy established to a target so far.</summary>
    public int EstablishedConnections => CountOccurrences(Log, "Established connection to host");

    /// <summary>
    /// Starts tinyproxy on a free port of <paramref name="listen"/> (or <paramref name="port"/>) and waits until
    /// it listens. With <paramref name="user"/> and <paramref name="pass"/> it requires Basic proxy authentication.
    /// <paramref name="connectPorts"/> are the only target ports CONNECT may reach; empty allows every port.
    /// <paramref name="bind"/> is the local address it dials targets from. With <paramref name="networkNamespace"/>
    /// it runs under <c>ip netns exec</c>.
    /// </summary>
    public static async Task<Tinyproxy> StartAsync(
        IPAddress listen,
        string? user = null,
        string? pass = null,
        IReadOnlyCollection<int>? connectPorts = null,
        IPAddress? bind = null,
        string? networkNamespace = null,
        int port = 0)
    {
        if ((user is null) != (pass is null))
        {
            throw new ArgumentException("Give both a user and a password, or neither.", nameof(pass));
        }

        var failures = new List<string>();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            // As with microsocks: a fresh port when another test took ours; a given port is tried as it is.
            var endPoint = new IPEndPoint(listen, port != 0 ? port : PortAllocator.GetFreeTcpPort(listen, networkNamespace));
            var directory = Directory.CreateTempSubdirectory("tsocks-tinyproxy-");
            var configPath = Path.Combine(directory.FullName, "tinyproxy.conf");
            await File.WriteAllTextAsync(configPath, BuildConfig(endPoint, user, pass, connectPorts ?? [], bind));

            string[] arguments = ["-d", "-c", configPath];
            var process = networkNamespace is null
                ? ExternalProcess.Start("tinyproxy", arguments)
                : ExternalProcess.Start("ip", ["netns", "exec", networkNamespace, "tinyproxy", .. arguments]);
            var proxy = new Tinyproxy(process, endPoint, directory, user, pass);
            if (await ListenProbe.WaitAsync(process, endPoint))
            {
                return proxy;
            }

            failures.Add(process.Describe());
            await proxy.DisposeAsync();
        }

        throw new InvalidOperationException(
            $"tinyproxy did not start listening on {listen}:\n{string.Join('\n', failures)}");
    }

    /// <summary>Polls the log until <paramref name="text"/> appears. False on timeout.</summary>
    public Task<bool> WaitForLogAsync(string text, TimeSpan timeout) => Process.WaitForTextAsync(text, timeout);

    /// <summary>Ends tinyproxy (SIGTERM to its pid, then SIGKILL) and removes its config directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // /tmp is cleaned eventually.
        }
    }

    private static string BuildConfig(IPEndPoint endPoint, string? user, string? pass, IReadOnlyCollection<int> connectPorts, IPAddress? bind)
    {
        var config = new StringBuilder();
        config.Append(CultureInfo.InvariantCulture, $"Port {endPoint.Port}\n");
        config.Append(CultureInfo.InvariantCulture, $"Listen {endPoint.Address}\n");
        if (bind is not null)
        {
            config.Append(CultureInfo.InvariantCulture, $"Bind {bind}\n");
        }

        // No LogFile and no Syslog: in the foreground the log goes to stderr, which ExternalProcess captures.
        // No Allow line: every client may connect (only our own namespaces and loopback can reach it).
        // No PidFile: the pid is the one we started.
        config.Append("Timeout 60\nLogLevel Connect\nMaxClients 200\nDisableViaHeader Yes\n");
        if (user is not null && pass is not null)
        {
            config.Append(CultureInfo.InvariantCulture, $"BasicAuth {user} {pass}\n");
        }

        foreach (var allowed in connectPorts)
        {
            config.Append(CultureInfo.InvariantCulture, $"ConnectPort {allowed}\n");
        }

        return config.ToString();
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var index = text.IndexOf(value, StringComparison.Ordinal); index >= 0; index = text.IndexOf(value, index + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
