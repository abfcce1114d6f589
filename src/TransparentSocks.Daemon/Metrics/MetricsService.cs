using System.Net.Sockets;
using Microsoft.Extensions.Hosting;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// Serves <c>/metrics</c> in the Prometheus text format on <c>metrics.listen</c> (IPv4 or IPv6). It does nothing
/// unless <c>metrics.enabled</c> is true. Registered after <see cref="ProxyService"/>, it starts once the data plane
/// exists and stops before it is torn down.
/// </summary>
/// <remarks>
/// Our own exposition replaced OpenTelemetry's HttpListener exporter: that one pulled System.Net.Http, SslStream and
/// the crypto shim into the binary (5 MB of 14) and cost 3.6 MiB of idle RSS even with metrics off, and could not
/// bind IPv6 on Linux. A listener that cannot start is logged as an error and the proxy keeps running: by then the
/// data plane and its nft rules are up, and the host would not stop them if this service failed its start.
/// </remarks>
internal sealed partial class MetricsService : IHostedService, IAsyncDisposable
{
    private readonly MetricsOptions _options;
    private readonly ProxyService _proxy;
    private readonly ILogger _logger;
    private ProxyMetrics? _metrics;
    private PrometheusScraper? _scraper;
    private ScrapeServer? _server;

    public MetricsService(TransparentSocksOptions options, ProxyService proxy, ILoggerFactory loggerFactory)
    {
        _options = options.Metrics;
        _proxy = proxy;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Metrics");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return Task.CompletedTask;
        }

        var listen = _options.ListenEndPoint;
        var diverted = new DivertedCounters();
        _metrics = new ProxyMetrics(
            () => ProxyMetrics.Inbounds(_proxy.Engine.Inbounds()), _proxy.Sessions, diverted.Read, () => ProxyMetrics.ReplySockets(_proxy.Engine), () => _proxy.Upstreams);
        _scraper = new PrometheusScraper(_metrics.Meter);
        try
        {
            _server = ScrapeServer.Start(listen, _scraper.Scrape, _logger);
        }
        catch (SocketException ex)
        {
            Release();
            Log.CannotListen(_logger, _options.Listen, ex.Message);
            return Task.CompletedTask;
        }

        Log.Serving(_logger, $"http://{_server.EndPoint}{ScrapeServer.ScrapePath}");
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }

        Release();
    }

    private void Release()
    {
        _scraper?.Dispose();
        _scraper = null;
        _metrics?.Dispose();
        _metrics = null;
    }

    private static partial class Log
    {
        [LoggerMessage(3000, LogLevel.Information, "metrics: serving {Url}")]
        public static partial void Serving(ILogger logger, string url);

        [LoggerMessage(3001, LogLevel.Error, "metrics.listen: cannot listen on {Listen}: {Reason}; metrics are off, the proxy keeps running")]
        public static partial void CannotListen(ILogger logger, string listen, string reason);
    }
}
