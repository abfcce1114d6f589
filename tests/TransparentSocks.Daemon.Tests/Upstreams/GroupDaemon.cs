using System.Net;
using System.Text.Json.Nodes;
using TransparentSocks.Control;
using TransparentSocks.Daemon.Tests.Control;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// transparentsocksd with its SOCKS5 server on loopback and <c>server.outbound</c> naming a group, plus what the
/// tests read back: <c>show upstreams --json</c>, <c>show server --json</c> and, when asked for, the metrics.
/// </summary>
internal sealed class GroupDaemon : IAsyncDisposable
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    private readonly ControlledDaemon _daemon;
    private readonly int? _metricsPort;

    private GroupDaemon(ControlledDaemon daemon, IPEndPoint server, int? metricsPort)
    {
        _daemon = daemon;
        Server = server;
        _metricsPort = metricsPort;
    }

    public IPEndPoint Server { get; }

    public string Log => _daemon.Log;

    /// <summary>
    /// Starts the daemon with <paramref name="upstreams"/> and <paramref name="groups"/> (see <see cref="UpstreamJson"/>),
    /// the server's outbound set to <paramref name="outbound"/>, and <paramref name="connectTimeout"/> seconds as the
    /// connect timeout, which is also each group's budget for a dial with all its retries.
    /// </summary>
    public static async Task<GroupDaemon> StartAsync(
        string outbound, IEnumerable<JsonObject> upstreams, IEnumerable<JsonObject> groups, double connectTimeout = 2, bool metrics = false)
    {
        var server = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        int? metricsPort = metrics ? PortAllocator.GetFreeTcpPort(IPAddress.Loopback) : null;
        var config = new JsonObject
        {
            ["server"] = new JsonObject
            {
                ["enabled"] = true,
                ["listen"] = server.ToString(),
                ["allowPrivateDestinations"] = true,
                ["outbound"] = outbound,
            },
            ["upstream"] = new JsonObject { ["connectTimeout"] = connectTimeout },
            ["upstreams"] = new JsonArray([.. upstreams]),
            ["groups"] = new JsonArray([.. groups]),
        };
        if (metricsPort is { } port)
        {
            config["metrics"] = new JsonObject { ["enabled"] = true, ["listen"] = $"127.0.0.1:{port}" };
        }

        var daemon = await ControlledDaemon.StartAsync(config.ToJsonString());
        try
        {
            await daemon.WaitForLogAsync($"SOCKS5 server listening on {server}");
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }

        return new GroupDaemon(daemon, server, metricsPort);
    }

    public async Task<IReadOnlyList<UpstreamInfo>> UpstreamsAsync()
        => (await Control.Cli.JsonAsync(_daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;

    public async Task<UpstreamInfo> UpstreamAsync(string name) => (await UpstreamsAsync()).Single(u => u.Name == name);

    public async Task<GroupMemberInfo> MemberAsync(string group, string member)
        => (await UpstreamAsync(group)).Members!.Single(m => m.Name == member);

    public Task<ServerInfo> ServerInfoAsync() => Control.Cli.JsonAsync(_daemon.Socket, J.ServerInfo, "show", "server");

    /// <summary>Polls <c>show upstreams</c> until <paramref name="member"/> of <paramref name="group"/> satisfies <paramref name="condition"/>; fails the test with what it last saw.</summary>
    public async Task<GroupMemberInfo> WaitForMemberAsync(string group, string member, Func<GroupMemberInfo, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var info = await MemberAsync(group, member);
            if (condition(info))
            {
                return info;
            }

            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"{group}/{member} did not reach the expected state within {timeout.TotalSeconds} s: {Describe(info)}\n{Log}");
            }

            await Task.Delay(100);
        }
    }

    public async Task<PrometheusText> MetricsAsync()
    {
        var port = _metricsPort ?? throw new InvalidOperationException("started without metrics");
        var scrape = await ExternalProcess.RunOrThrowAsync("curl", ["-sS", "--max-time", "10", $"http://127.0.0.1:{port}/metrics"], TimeSpan.FromSeconds(20));
        return PrometheusText.Parse(scrape.Output);
    }

    public static string Describe(GroupMemberInfo m)
        => $"{m.Name} {m.State} reason={m.Reason} detail={m.Detail} checks={m.Checks} checkFailures={m.CheckFailures} lastCheckMs={m.LastCheckMs} "
           + $"inFlight={m.InFlight} failures=[{string.Join(", ", m.Failures.Select(f => $"{f.Key}={f.Value}"))}]";

    public ValueTask DisposeAsync() => _daemon.DisposeAsync();
}

/// <summary>The <c>upstreams</c> and <c>groups</c> entries of a config.</summary>
internal static class UpstreamJson
{
    public static JsonObject Socks5(string name, IPEndPoint address, string? username = null, string? password = null)
        => Upstream(name, "socks5", address, username, password, passwordFile: null);

    public static JsonObject HttpConnect(string name, IPEndPoint address, string? username = null, string? passwordFile = null)
        => Upstream(name, "http", address, username, password: null, passwordFile);

    /// <param name="interval">Seconds between checks.</param>
    /// <param name="timeout">Seconds one check may take.</param>
    public static JsonObject Group(
        string name, string policy, string[] members, double interval = 1, double timeout = 1, int failures = 2, int successes = 2, IPEndPoint? target = null)
    {
        var health = new JsonObject
        {
            ["interval"] = interval,
            ["timeout"] = timeout,
            ["failures"] = failures,
            ["successes"] = successes,
        };
        if (target is not null)
        {
            health["target"] = target.ToString();
        }

        return new JsonObject
        {
            ["name"] = name,
            ["policy"] = policy,
            ["members"] = new JsonArray([.. members.Select(m => (JsonNode)m)]),
            ["healthCheck"] = health,
        };
    }

    private static JsonObject Upstream(string name, string protocol, IPEndPoint address, string? username, string? password, string? passwordFile)
    {
        var upstream = new JsonObject { ["name"] = name, ["address"] = address.ToString(), ["protocol"] = protocol };
        if (username is not null)
        {
            upstream["username"] = username;
        }

        if (password is not null)
        {
            upstream["password"] = password;
        }

        if (passwordFile is not null)
        {
            upstream["passwordFile"] = passwordFile;
        }

        return upstream;
    }
}

/// <summary>The upstream tests measure timings on 2 shared cores: they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class UpstreamServerCollection
{
    public const string Name = "Upstream groups, server mode";
}
