using System.Net;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>
/// Metrics of the transparent path on the real kernel: the daemon in the gateway namespace of a lab, scraped from
/// inside that namespace on the default metrics.listen, with the diverted figures read from its nft counters.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TransparentMetricsTests
{
    private const string UpstreamUser = "up-user-k4";
    private const string UpstreamPassword = "up-pass-w8";
    private static readonly IPEndPoint DefaultListen = new(IPAddress.Loopback, 9464);

    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task Scrape_AfterCurlThroughThePath_CountsDivertedPacketsAndTheSession(string mode)
    {
        var body = new string('t', 100_000) + "\n";
        await using var lab = await GatewayLab.CreateAsync("tsd-met");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, body, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, UpstreamUser, UpstreamPassword, lab.Gateway.Name);
        var credentials = $$""", "username": "{{UpstreamUser}}", "password": "{{UpstreamPassword}}" """;
        var config = WithMetrics(Config(lab, upstream.EndPoint, mode, upstreamExtra: credentials));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        Assert.True(await ListenProbe.WaitAsync(daemon.Process, DefaultListen), daemon.Log);

        var curl = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal(body.Length, curl.Output.Length);

        var iface = lab.ClientInterface;
        var (raw, scrape) = await ScrapeUntilAsync(lab, s => s.Value("transparentsocks_active_connections", ("iface", iface), ("path", mode)) == 0);
        Assert.Equal(1, scrape.Value("transparentsocks_connections_total", ("iface", iface), ("path", mode)));
        Assert.True(scrape.Value("transparentsocks_bytes_total", ("direction", "down"), ("iface", iface), ("path", mode)) >= body.Length, raw);
        Assert.True(scrape.Value("transparentsocks_bytes_total", ("direction", "up"), ("iface", iface), ("path", mode)) > 0, raw);
        Assert.Equal(0, scrape.Family("transparentsocks_connect_failures_total").Samples.Sum(s => s.Value));
        Assert.DoesNotContain(scrape.Samples, s => s.Labels.TryGetValue("path", out var path) && path == "server");
        Assert.DoesNotContain(scrape.Families, f => f.Name == "transparentsocks_auth_failures_total");

        // The kernel counted the connection's packets toward the proxy; the same nft counter the daemon reads.
        var (packets, bytes) = await CounterAsync(lab.Gateway, iface);
        // Every packet of the connection, not just the first: SYN, the request, and the ACKs of 100 kB coming back.
        Assert.True(packets >= 4, $"nft counted {packets} packet(s) for a connection that sent a request and acknowledged {body.Length} bytes");
        var divertedPackets = scrape.Value("transparentsocks_diverted_packets_total", ("iface", iface));
        Assert.True(divertedPackets > 0 && divertedPackets <= packets, $"{divertedPackets} scraped, {packets} in nft");
        var divertedBytes = scrape.Value("transparentsocks_diverted_bytes_total", ("iface", iface));
        Assert.True(divertedBytes > 0 && divertedBytes <= bytes, $"{divertedBytes} scraped, {bytes} in nft");
        Assert.Equal("counter", scrape.Family("transparentsocks_diverted_packets_total").Type);

        Assert.DoesNotContain(UpstreamUser, raw, StringComparison.Ordinal);
        Assert.DoesNotContain(UpstreamPassword, raw, StringComparison.Ordinal);

        // An interface disabled by a reload leaves the scrape with it.
        Assert.True(await daemon.ReloadAsync(WithMetrics(Config(lab, upstream.EndPoint, mode, interfaces: "[]", upstreamExtra: credentials))), daemon.Log);
        var (_, after) = await ScrapeAsync(lab);
        Assert.DoesNotContain(after.Samples, s => s.Labels.ContainsKey("iface"));
    }

    // The lab's config has no metrics section; the default listen is used, which is free in a fresh namespace.
    private static string WithMetrics(string config)
        => config.Insert(config.IndexOf('{', StringComparison.Ordinal) + 1, """ "metrics": { "enabled": true }, """);

    private static async Task<(string Raw, PrometheusText Text)> ScrapeAsync(GatewayLab lab)
    {
        var result = await lab.Gateway.ExecAsync("curl", "-q", "-sS", "--fail", "--max-time", "10", $"http://{DefaultListen}/metrics");
        Assert.True(result.ExitCode == 0, $"curl exited {result.ExitCode}: {result.Error}");
        return (result.Output, PrometheusText.Parse(result.Output));
    }

    private static async Task<(string Raw, PrometheusText Text)> ScrapeUntilAsync(GatewayLab lab, Func<PrometheusText, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var scrape = await ScrapeAsync(lab);
            if (done(scrape.Text) || DateTime.UtcNow > deadline)
            {
                return scrape;
            }

            await Task.Delay(100);
        }
    }
}
