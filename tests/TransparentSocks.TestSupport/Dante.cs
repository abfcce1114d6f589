using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A real Dante SOCKS5 server (danted), kept in the foreground so its pid stays ours. Each CONNECT is
/// logged with its destination, e.g. <c>tcp/connect [: username%tsocks-test@127.0.0.1.41548 127.0.0.1.1080 -> 127.0.0.1.43933 127.0.0.1.8080</c>
/// (Dante writes endpoints as ADDRESS.PORT). Started with <c>udp: true</c> it also relays UDP ASSOCIATE, and
/// logs every datagram each way; <see cref="UdpDatagrams"/> reads those lines back.
/// </summary>
public sealed class Dante : IAsyncDisposable
{
    private const int StartAttempts = 3;

    private readonly DirectoryInfo _directory;

    private Dante(ExternalProcess process, IPEndPoint endPoint, DirectoryInfo directory, bool requireAuth, bool udp)
    {
        Process = process;
        EndPoint = endPoint;
        _directory = directory;
        RequiresAuth = requireAuth;
        RelaysUdp = udp;
    }

    public IPEndPoint EndPoint { get; }

    public bool RequiresAuth { get; }

    /// <summary>Whether UDP ASSOCIATE is allowed (otherwise danted refuses it with reply 0x02).</summary>
    public bool RelaysUdp { get; }

    /// <summary>The account clients must authenticate as when <see cref="RequiresAuth"/> is set.</summary>
    public static string Username => DanteUser.Username;

    public static string Password => DanteUser.Password;

    public ExternalProcess Process { get; }

    public string ConfigPath => Path.Combine(_directory.FullName, "danted.conf");

    public string LogPath => Path.Combine(_directory.FullName, "danted.log");

    /// <summary>
    /// Starts danted on a free port of <paramref name="listen"/> and waits until it listens.
    /// <paramref name="requireAuth"/> selects the <c>username</c> method and creates the system user
    /// first. <paramref name="external"/> is the interface or address Dante dials out from; <c>lo</c>
    /// reaches both 127.0.0.1 and ::1 targets, and an interface name (the gateway lab's
    /// <see cref="Lab.GatewayLab.TargetInterface"/>) gives both of its addresses. <paramref name="udp"/>
    /// allows UDP ASSOCIATE: danted answers with BND = <paramref name="listen"/> and a fresh port per
    /// association, and sends the datagrams out from the external address. <paramref name="debug"/> turns on
    /// danted's debug log, which is the one that shows each request as the client sent it, e.g.
    /// <c>Packet: VER: 5 CMD: 1 FLAG: 0 ATYP: 3 address: www.example.com.443</c> (see <see cref="FormatLogRequest"/>);
    /// the connect lines always show the address it dialed, even for a name.
    /// </summary>
    public static async Task<Dante> StartAsync(
        IPAddress listen,
        bool requireAuth,
        string external = "lo",
        string? networkNamespace = null,
        bool udp = false,
        bool debug = false)
    {
        if (requireAuth)
        {
            await DanteUser.EnsureAsync();
        }

        var failures = new List<string>();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("tsocks-dante-");
            var endPoint = new IPEndPoint(listen, PortAllocator.GetFreeTcpPort(listen, networkNamespace));
            var configPath = Path.Combine(directory.FullName, "danted.conf");
            await File.WriteAllTextAsync(
                configPath,
                BuildConfig(endPoint, requireAuth, external, Path.Combine(directory.FullName, "danted.log"), udp, debug));

            // Without -D danted stays in the foreground; -N 1 keeps it to one set of worker processes.
            string[] arguments = ["-f", configPath, "-N", "1", "-p", Path.Combine(directory.FullName, "danted.pid")];
            var process = networkNamespace is null
                ? ExternalProcess.Start("danted", arguments)
                : ExternalProcess.Start("ip", ["netns", "exec", networkNamespace, "danted", .. arguments]);
            var dante = new Dante(process, endPoint, directory, requireAuth, udp);
            if (await ListenProbe.WaitAsync(process, endPoint))
            {
                return dante;
            }

            failures.Add($"{process.Describe()}\nlog: {dante.ReadLog()}");
            await dante.DisposeAsync();
        }

        throw new InvalidOperationException(
            $"danted did not start listening on {listen}:\n{string.Join('\n', failures)}");
    }

    /// <summary>The log file as written so far.</summary>
    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return string.Empty;
        }
    }

    /// <summary>Polls the log until <paramref name="text"/> appears. False on timeout.</summary>
    public async Task<bool> WaitForLogAsync(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (ReadLog().Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            if (clock.Elapsed >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>
    /// The datagrams danted relayed so far, both ways, in log order. Needs <c>udp: true</c>; a datagram
    /// that matched no pass rule is not logged at all.
    /// </summary>
    public IReadOnlyList<DanteUdpDatagram> UdpDatagrams => DanteUdpDatagram.ParseLog(ReadLog());

    /// <summary>Polls the log until a relayed datagram satisfies <paramref name="match"/>. False on timeout.</summary>
    public Task<bool> WaitForUdpDatagramAsync(Func<DanteUdpDatagram, bool> match, TimeSpan timeout)
        => Poll.UntilAsync(() => UdpDatagrams.Any(match), timeout);

    /// <summary>Dante's way of writing an endpoint in its log: ADDRESS.PORT.</summary>
    public static string FormatLogEndPoint(IPEndPoint endPoint) =>
        $"{endPoint.Address}.{endPoint.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// How the debug log (<c>debug: true</c>) writes a CONNECT request's destination as the client sent it: ATYP 3
    /// and the name for a domain, ATYP 1 or 4 and the address otherwise, then ADDRESS.PORT as in the connect lines.
    /// </summary>
    public static string FormatLogRequest(string host, int port)
    {
        var atyp = IPAddress.TryParse(host, out var address)
            ? address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 4 : 1
            : 3;
        return $"ATYP: {atyp} address: {host}.{port.ToString(CultureInfo.InvariantCulture)}";
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A straggling worker still writing the log; /tmp is cleaned eventually.
        }
    }

    private static string BuildConfig(IPEndPoint endPoint, bool requireAuth, string external, string logPath, bool udp, bool debug)
    {
        var port = endPoint.Port.ToString(CultureInfo.InvariantCulture);
        var method = requireAuth ? "username" : "none";
        // Replies from the target need a rule of their own (udpreply); iooperation is what logs each datagram.
        var udpRules = udp
            ? """
            socks pass {
                from: 0/0 to: 0/0
                command: udpassociate
                log: error connect disconnect iooperation
            }

            socks pass {
                from: 0/0 to: 0/0
                command: udpreply
                log: error connect disconnect iooperation
            }

            """
            : string.Empty;
        return $$"""
            logoutput: {{logPath}}
            {{(debug ? "debug: 1" : string.Empty)}}
            internal: {{endPoint.Address}} port = {{port}}
            external: {{external}}
            clientmethod: none
            socksmethod: {{method}}
            # root to read /etc/shadow for the username method; workers otherwise run as nobody.
            user.privileged: root
            user.unprivileged: nobody

            client pass {
                from: 0/0 to: 0/0
                log: error
            }

            socks pass {
                from: 0/0 to: 0/0
                command: connect
                log: error connect disconnect
            }

            {{udpRules}}
            """;
    }
}
