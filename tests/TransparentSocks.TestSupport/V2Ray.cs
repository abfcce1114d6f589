using System.Net;
using System.Text.Json.Nodes;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Debian's v2ray (4.34, v4 JSON config) as a SOCKS5 upstream with UDP: one socks inbound with
/// <c>"udp": true</c> and a freedom outbound for addresses; a destination given as a host name goes to a
/// blackhole, so v2ray never asks any resolver (no DNS section, no geo files). It stays in the foreground, as v2ray always does.
/// What it does with UDP, which the fixture's self-tests pin down:
/// <list type="bullet">
/// <item>UDP ASSOCIATE is answered with BND = <c>settings.ip</c> and the inbound's own port, whatever
/// DST the client declared (0.0.0.0:0 included); the relay is that same port over UDP.</item>
/// <item>It reads each client datagram into a 2 KiB buffer: a payload over 2038 bytes (IPv4 header)
/// is cut short, not refused.</item>
/// <item>The access log has one line per new UDP flow, e.g. <c>udp:198.51.100.1:40000 accepted udp:203.0.113.2:7</c>.</item>
/// </list>
/// </summary>
public sealed class V2Ray : IAsyncDisposable
{
    /// <summary>The largest client payload v2ray 4.34 relays whole (2048-byte buffer less a 10-byte IPv4 header).</summary>
    public const int MaxIntactPayloadV4 = 2038;

    private const int StartAttempts = 3;

    private readonly DirectoryInfo _directory;

    private V2Ray(ExternalProcess process, IPEndPoint endPoint, DirectoryInfo directory, string? user, string? password)
    {
        Process = process;
        EndPoint = endPoint;
        _directory = directory;
        User = user;
        Password = password;
    }

    /// <summary>The socks inbound, TCP and UDP on the same port.</summary>
    public IPEndPoint EndPoint { get; }

    public string? User { get; }

    public string? Password { get; }

    public ExternalProcess Process { get; }

    public string ConfigPath => Path.Combine(_directory.FullName, "config.json");

    public string AccessLogPath => Path.Combine(_directory.FullName, "access.log");

    public string ErrorLogPath => Path.Combine(_directory.FullName, "error.log");

    /// <summary>
    /// Starts v2ray with its socks inbound on a free port of <paramref name="listen"/> and waits until it
    /// listens. <paramref name="udpAddress"/> is <c>settings.ip</c>, the BND.ADDR of UDP ASSOCIATE, which
    /// clients must be able to reach; it defaults to <paramref name="listen"/>, and must be given when that is
    /// a wildcard. With <paramref name="user"/> and <paramref name="password"/> the inbound requires
    /// username/password auth. With <paramref name="networkNamespace"/> it runs under <c>ip netns exec</c>.
    /// </summary>
    public static async Task<V2Ray> StartAsync(
        IPAddress listen,
        IPAddress? udpAddress = null,
        string? user = null,
        string? password = null,
        string? networkNamespace = null)
    {
        if ((user is null) != (password is null))
        {
            throw new ArgumentException("Give both a user and a password, or neither.", nameof(password));
        }

        var reachable = udpAddress ?? listen;
        if (reachable.Equals(IPAddress.Any) || reachable.Equals(IPAddress.IPv6Any))
        {
            throw new ArgumentException("A wildcard listen address needs the address clients reach it at.", nameof(udpAddress));
        }

        var failures = new List<string>();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("tsocks-v2ray-");
            var endPoint = new IPEndPoint(listen, PortAllocator.GetFreeTcpPort(listen, networkNamespace));
            var configPath = Path.Combine(directory.FullName, "config.json");
            await File.WriteAllTextAsync(configPath, BuildConfig(endPoint, reachable, user, password, directory.FullName));

            string[] arguments = ["-config", configPath];
            var process = networkNamespace is null
                ? ExternalProcess.Start("v2ray", arguments)
                : ExternalProcess.Start("ip", ["netns", "exec", networkNamespace, "v2ray", .. arguments]);
            var v2ray = new V2Ray(process, endPoint, directory, user, password);
            if (await ListenProbe.WaitAsync(process, endPoint))
            {
                return v2ray;
            }

            failures.Add($"{process.Describe()}\nerror log: {v2ray.ReadErrorLog()}");
            await v2ray.DisposeAsync();
        }

        throw new InvalidOperationException(
            $"v2ray did not start listening on {listen}:\n{string.Join('\n', failures)}");
    }

    /// <summary>The access log so far: one line per accepted TCP connection or new UDP flow.</summary>
    public string ReadAccessLog() => ReadShared(AccessLogPath);

    /// <summary>The error log so far (at level info, which includes each inbound UDP flow and dial).</summary>
    public string ReadErrorLog() => ReadShared(ErrorLogPath);

    /// <summary>Polls the access log until <paramref name="text"/> appears. False on timeout.</summary>
    public Task<bool> WaitForAccessLogAsync(string text, TimeSpan timeout)
        => Poll.UntilAsync(() => ReadAccessLog().Contains(text, StringComparison.Ordinal), timeout);

    /// <summary>How the access log names a UDP destination: <c>udp:203.0.113.2:7</c>, <c>udp:[2001:db8:2::2]:7</c>.</summary>
    public static string FormatUdpDestination(IPEndPoint endPoint) => $"udp:{endPoint}";

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left for /tmp's own cleanup.
        }
    }

    private static string ReadShared(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return string.Empty;
        }
    }

    private static string BuildConfig(IPEndPoint endPoint, IPAddress udpAddress, string? user, string? password, string directory)
    {
        var settings = new JsonObject
        {
            ["auth"] = user is null ? "noauth" : "password",
            ["udp"] = true,
            ["ip"] = udpAddress.ToString(),
        };
        if (user is not null)
        {
            settings["accounts"] = new JsonArray(new JsonObject { ["user"] = user, ["pass"] = password });
        }

        var config = new JsonObject
        {
            ["log"] = new JsonObject
            {
                ["loglevel"] = "info",
                ["access"] = Path.Combine(directory, "access.log"),
                ["error"] = Path.Combine(directory, "error.log"),
            },
            ["inbounds"] = new JsonArray(new JsonObject
            {
                ["listen"] = endPoint.Address.ToString(),
                ["port"] = endPoint.Port,
                ["protocol"] = "socks",
                ["settings"] = settings,
            }),
            ["outbounds"] = new JsonArray(
                new JsonObject
                {
                    ["protocol"] = "freedom",
                    ["settings"] = new JsonObject { ["domainStrategy"] = "AsIs" },
                },
                new JsonObject { ["protocol"] = "blackhole", ["tag"] = "names" }),
            // freedom would resolve a host name with the machine's resolver, which may be a real one; the lab
            // only ever sends addresses, so a name is dropped instead of ever leaving the box as a query.
            ["routing"] = new JsonObject
            {
                ["domainStrategy"] = "AsIs",
                ["rules"] = new JsonArray(new JsonObject
                {
                    ["type"] = "field",
                    ["domain"] = new JsonArray("regexp:."),
                    ["outboundTag"] = "names",
                }),
            },
        };
        return config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}
