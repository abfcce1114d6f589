using System.Net;
using System.Net.Sockets;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>transparentsocksd as a process with metrics on, scraped with curl and read with a strict parser.</summary>
[Trait("Category", "Integration")]
public sealed class MetricsDaemonTests
{
    private const string User = "metrics-user-q7";
    private const string Password = "metrics-pass-z9";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // Exactly the families served; the exporter's target_info and otel_scope_* labels are switched off.
    private static readonly Dictionary<string, string> Families = new()
    {
        ["transparentsocks_connections_total"] = "counter",
        ["transparentsocks_active_connections"] = "gauge",
        ["transparentsocks_bytes_total"] = "counter",
        ["transparentsocks_connect_failures_total"] = "counter",
        ["transparentsocks_rejected_total"] = "counter",
        ["transparentsocks_auth_failures_total"] = "counter",
        ["transparentsocks_handshake_failures_total"] = "counter",
        ["transparentsocks_handshakes_evicted_total"] = "counter",
        ["transparentsocks_upstream_failures_total"] = "counter",

        // The server's UDP ASSOCIATE has them from the start, zeros included; reply sockets belong to the transparent path.
        ["transparentsocks_udp_flows_active"] = "gauge",
        ["transparentsocks_udp_flows_total"] = "counter",
        ["transparentsocks_udp_datagrams_total"] = "counter",
        ["transparentsocks_udp_bytes_total"] = "counter",
        ["transparentsocks_udp_dropped_total"] = "counter",
        ["transparentsocks_udp_evictions_total"] = "counter",
        ["transparentsocks_udp_association_failures_total"] = "counter",
    };

    private static readonly HashSet<string> LabelNames = ["path", "iface", "direction", "reason"];

    [Fact]
    public async Task Scrape_AfterTrafficThroughTheServer_CountsSessionsBytesAndFailuresByReason()
    {
        var body = new string('m', 150_000) + "\n";
        await using var target = new HttpTarget(IPAddress.Loopback, body);
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var (socks, metrics) = (Free(), Free());
        await using var daemon = await StartAsync(socks, $$"""
            {
              "server": { "enabled": true, "listen": "{{socks}}", "allowPrivateDestinations": true,
                          "users": [ { "username": "{{User}}", "password": "{{Password}}" } ] },
              "metrics": { "enabled": true, "listen": "{{metrics}}" }
            }
            """);
        Assert.True(await daemon.Process.WaitForTextAsync($"metrics: serving http://{metrics}/metrics", TimeSpan.FromSeconds(10)), daemon.Log);

        var curl = await CurlAsync(socks, Password, target.Url.ToString());
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal(body.Length, curl.Output.Length);

        var first = await ScrapeUntilAsync(metrics, s => s.Value("transparentsocks_active_connections", ("path", "server")) == 0);
        Assert.Equal(1, first.Value("transparentsocks_connections_total", ("path", "server")));
        Assert.True(Bytes(first, "down") >= body.Length, $"down {Bytes(first, "down")} < body {body.Length}");
        Assert.True(Bytes(first, "up") > 0);
        Assert.All(first.Family("transparentsocks_connect_failures_total").Samples, s => Assert.Equal(0, s.Value));

        var refused = await CurlAsync(socks, Password, $"http://127.0.0.1:{closedPort}/");
        var wrong = await CurlAsync(socks, "not-the-password", target.Url.ToString());
        Assert.NotEqual(0, refused.ExitCode);
        Assert.NotEqual(0, wrong.ExitCode);

        var (raw, contentType) = await ScrapeRawAsync(metrics);
        var second = PrometheusText.Parse(raw);
        Assert.StartsWith("text/plain; version=0.0.4", contentType, StringComparison.Ordinal);
        Assert.Equal(1, second.Value("transparentsocks_connect_failures_total", ("path", "server"), ("reason", "refused")));
        Assert.Equal(1, second.Family("transparentsocks_connect_failures_total").Samples.Sum(s => s.Value));
        Assert.Equal(1, second.Value("transparentsocks_auth_failures_total", ("path", "server")));
        Assert.Equal(3, second.Value("transparentsocks_connections_total", ("path", "server")));
        Assert.Equal(0, second.Value("transparentsocks_rejected_total", ("path", "server")));
        Assert.Equal(0, second.Value("transparentsocks_handshake_failures_total", ("path", "server")));
        Assert.True(Bytes(second, "down") >= Bytes(first, "down"));

        Assert.Equal(Families.Keys.Order(), second.Families.Select(f => f.Name).Order());
        Assert.All(second.Families, f =>
        {
            Assert.Equal(Families[f.Name], f.Type);
            Assert.False(string.IsNullOrWhiteSpace(f.Help), f.Name);
        });
        Assert.All(second.Samples, s => Assert.Subset(LabelNames, s.Labels.Keys.ToHashSet()));
        Assert.DoesNotContain(second.Samples, s => s.Labels.ContainsKey("iface"));
        Assert.DoesNotContain(User, raw, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, raw, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-password", raw, StringComparison.Ordinal);

        Assert.Equal(0, await daemon.TerminateAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("transparentsocksd stopped", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_GroupWithADeadMember_ShowsItDownWithItsReasonAndTheLiveOneUpWithItsCheckDuration()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "through the group\n");
        await using var live = await Microsocks.StartAsync(IPAddress.Loopback);
        var dead = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var (socks, metrics) = (Free(), Free());
        await using var daemon = await StartAsync(socks, $$"""
            {
              "upstreams": [
                { "name": "dead", "address": "127.0.0.1:{{dead}}" },
                { "name": "live", "address": "{{live.EndPoint}}" }
              ],
              "groups": [
                { "name": "main", "policy": "failover", "members": [ "dead", "live" ],
                  "healthCheck": { "interval": 0.2, "timeout": 1, "failures": 1, "successes": 1 } }
              ],
              "server": { "enabled": true, "listen": "{{socks}}", "allowPrivateDestinations": true, "outbound": "main" },
              "metrics": { "enabled": true, "listen": "{{metrics}}" }
            }
            """);
        Assert.True(await daemon.Process.WaitForTextAsync("metrics: serving", TimeSpan.FromSeconds(10)), daemon.Log);

        var scrape = await ScrapeUntilAsync(metrics, s => Up(s, "dead") == 0 && s.Family("transparentsocks_upstream_health_check_duration_seconds").Samples.Any(x => x.Labels["upstream"] == "live"));
        var curl = await ExternalProcess.RunAsync("curl", ["-q", "-sS", "--max-time", "20", "--socks5", socks.ToString(), target.Url.ToString()], Timeout);
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("through the group\n", curl.Output);
        var after = await ScrapeUntilAsync(metrics, s => s.Value("transparentsocks_upstream_connections_total", ("upstream", "main")) >= 1);

        Assert.Equal(0, Up(scrape, "dead"));
        Assert.Equal(1, Up(scrape, "live"));
        Assert.Equal("gauge", scrape.Family("transparentsocks_upstream_up").Type);
        var duration = Assert.Single(scrape.Family("transparentsocks_upstream_health_check_duration_seconds").Samples, x => x.Labels["upstream"] == "live");
        Assert.InRange(duration.Value, 0, 1);
        Assert.True(scrape.Value("transparentsocks_upstream_health_failures_total", ("group", "main"), ("reason", "refused"), ("upstream", "dead")) >= 1);
        Assert.Equal(0, scrape.Value("transparentsocks_upstream_health_failures_total", ("group", "main"), ("reason", "refused"), ("upstream", "live")));
        var reasons = scrape.Family("transparentsocks_upstream_health_failures_total").Samples.Where(x => x.Labels["upstream"] == "dead").Select(x => x.Labels["reason"]);
        Assert.Equal(["auth", "handshake", "refused", "target", "timeout"], reasons.Order());
        Assert.True(scrape.Value("transparentsocks_upstream_health_checks_total", ("group", "main"), ("upstream", "live")) >= 1);
        Assert.Equal(1, after.Value("transparentsocks_upstream_connections_total", ("upstream", "main")));
        Assert.Equal(1, after.Value("transparentsocks_upstream_connections_total", ("upstream", "live")));
        Assert.Equal(0, after.Value("transparentsocks_upstream_dial_failures_total", ("upstream", "main")));

        // Names only: an upstream's address is not a label.
        Assert.DoesNotContain(after.Samples, x => x.Labels.Values.Any(v => v.Contains("127.0.0.1", StringComparison.Ordinal)));
    }

    private static double Up(PrometheusText scrape, string member)
        => scrape.Family("transparentsocks_upstream_up").Samples.SingleOrDefault(x => x.Labels["upstream"] == member)?.Value ?? -1;

    [Fact]
    public async Task MetricsDisabled_NothingListensOnThePort()
    {
        var (socks, metrics) = (Free(), Free());
        await using var daemon = await StartAsync(socks, $$"""
            {
              "server": { "enabled": true, "listen": "{{socks}}" },
              "metrics": { "enabled": false, "listen": "{{metrics}}" }
            }
            """);

        // The server is up, and the metrics service would have bound by the time a scrape could follow.
        await Task.Delay(500);
        Assert.False(ListenProbe.IsListening(daemon.Process.Pid, metrics));
        var scrape = await ExternalProcess.RunAsync("curl", ["-q", "-sS", "--max-time", "5", $"http://{metrics}/metrics"], Timeout);
        Assert.Equal(7, scrape.ExitCode);
        Assert.DoesNotContain("metrics: serving", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsPortTaken_ProxyKeepsServingAndTheErrorNamesMetricsListen()
    {
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var metrics = (IPEndPoint)squatter.LocalEndPoint!;
        await using var target = new HttpTarget(IPAddress.Loopback, "still proxying\n");
        var socks = Free();
        await using var daemon = await StartAsync(socks, $$"""
            {
              "server": { "enabled": true, "listen": "{{socks}}", "allowPrivateDestinations": true },
              "metrics": { "enabled": true, "listen": "{{metrics}}" }
            }
            """);

        Assert.True(await daemon.Process.WaitForTextAsync("metrics.listen: cannot listen on", TimeSpan.FromSeconds(10)), daemon.Log);
        var curl = await ExternalProcess.RunAsync("curl", ["-q", "-sS", "--max-time", "20", "--socks5", socks.ToString(), target.Url.ToString()], Timeout);
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("still proxying\n", curl.Output);
        Assert.Equal(0, await daemon.TerminateAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task MetricsListenIPv6_IsServed()
    {
        var socks = Free();
        var metrics = new IPEndPoint(IPAddress.IPv6Loopback, PortAllocator.GetFreeTcpPort(IPAddress.IPv6Loopback));
        await using var daemon = await StartAsync(socks, $$"""
            {
              "server": { "enabled": true, "listen": "{{socks}}" },
              "metrics": { "enabled": true, "listen": "{{metrics}}" }
            }
            """);

        Assert.True(await daemon.Process.WaitForTextAsync($"metrics: serving http://{metrics}/metrics", TimeSpan.FromSeconds(10)), daemon.Log);
        var scrape = await ScrapeAsync(metrics);
        Assert.Equal(0, scrape.Value("transparentsocks_connections_total", ("path", "server")));
    }

    internal static async Task<PrometheusText> ScrapeAsync(IPEndPoint metrics) => PrometheusText.Parse((await ScrapeRawAsync(metrics)).Body);

    private static async Task<(string Body, string ContentType)> ScrapeRawAsync(IPEndPoint metrics)
    {
        // The content type goes to stderr so that stdout is exactly the body.
        var result = await ExternalProcess.RunAsync(
            "curl", ["-q", "-sS", "--fail", "--max-time", "10", "-w", "%{stderr}%{content_type}", $"http://{metrics}/metrics"], Timeout);
        Assert.True(result.ExitCode == 0, $"curl exited {result.ExitCode}: {result.Error}");
        return (result.Output, result.Error);
    }

    // A session is closed (and its bytes folded into the totals) just after curl has its last byte, not before.
    private static async Task<PrometheusText> ScrapeUntilAsync(IPEndPoint metrics, Func<PrometheusText, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var scrape = await ScrapeAsync(metrics);
            if (done(scrape) || DateTime.UtcNow > deadline)
            {
                return scrape;
            }

            await Task.Delay(100);
        }
    }

    private static double Bytes(PrometheusText scrape, string direction)
        => scrape.Value("transparentsocks_bytes_total", ("direction", direction), ("path", "server"));

    private static Task<ProcessResult> CurlAsync(IPEndPoint socks, string password, string url)
        => ExternalProcess.RunAsync("curl", ["-q", "-sS", "--max-time", "20", "-x", $"socks5h://{User}:{password}@{socks}", url], Timeout);

    private static IPEndPoint Free() => new(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));

    private static Task<DaemonProcess> StartAsync(IPEndPoint socks, string config) => DaemonProcess.StartListeningAsync(socks, config);
}
