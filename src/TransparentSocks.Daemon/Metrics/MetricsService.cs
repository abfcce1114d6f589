using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// Serves <c>/metrics</c> in the Prometheus text format on <c>metrics.listen</c>, through OpenTelemetry's Prometheus
/// exporter. It does nothing unless <c>metrics.enabled</c> is true. Registered after <see cref="ProxyService"/>, it
/// starts once the data plane exists and stops before it is torn down.
/// </summary>
/// <remarks>
/// A listener that cannot start is logged as an error and the proxy keeps running: by then the data plane and its
/// nft rules are up, and the host would not stop them if this service failed its start.
/// </remarks>
internal sealed partial class MetricsService : IHostedService, IDisposable
{
    private const string ScrapePath = "/metrics";

    private readonly MetricsOptions _options;
    private readonly ProxyService _proxy;
    private readonly ILogger _logger;
    private ProxyMetrics? _metrics;
    private MeterProvider? _provider;

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
        if (!TryPrefix(listen, out var prefix, out var url))
        {
            Log.Ipv6NotSupported(_logger, _options.Listen);
            return Task.CompletedTask;
        }

        var diverted = new DivertedCounters();
        _metrics = new ProxyMetrics(
            () => ProxyMetrics.Inbounds(_proxy.Engine.Inbounds()), _proxy.Sessions, diverted.Read, () => ProxyMetrics.ReplySockets(_proxy.Engine), () => _proxy.Upstreams);
        try
        {
            _provider = Export(prefix);
        }
        catch (InvalidOperationException ex)
        {
            _metrics.Dispose();
            _metrics = null;
            Log.CannotListen(_logger, _options.Listen, (ex.InnerException ?? ex).Message);
            return Task.CompletedTask;
        }

        Log.Serving(_logger, url);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The exporter as the daemon runs it, serving <see cref="ProxyMetrics.MeterName"/> on <paramref name="prefix"/>.
    /// Throws <see cref="InvalidOperationException"/> when the listener cannot start.
    /// </summary>
    internal static MeterProvider Export(string prefix)
        => Sdk.CreateMeterProviderBuilder()
            .AddMeter(ProxyMetrics.MeterName)
            .AddPrometheusHttpListener(o =>
            {
                // Only our own series: no target_info, no otel_scope_* label on every sample.
                o.TargetInfoEnabled = false;
                o.ScopeInfoEnabled = false;

                // Every scrape reads the counters afresh; nft's cost is bounded by DivertedCounters instead.
                o.ScrapeResponseCacheDurationMilliseconds = 0;

                // Our prefix replaces the exporter's, so neither its "localhost" default nor the
                // OTEL_EXPORTER_PROMETHEUS_* environment can move the listener off metrics.listen.
                o.ConfigureHttpListener = (_, listener) =>
                {
                    listener.Prefixes.Clear();
                    listener.Prefixes.Add(prefix);
                };
            })
            .Build();

    /// <summary>
    /// The HttpListener prefix for <paramref name="listen"/>. On Linux the managed HttpListener binds the address
    /// named in the prefix, cannot parse an IPv6 literal there, and refuses 0.0.0.0, for which "+" binds every IPv4
    /// address. For a specific address it also requires the scrape's Host header to name that address.
    /// </summary>
    internal static bool TryPrefix(IPEndPoint listen, out string prefix, out string url)
    {
        prefix = url = string.Empty;
        if (listen.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        var host = listen.Address.Equals(IPAddress.Any) ? "+" : listen.Address.ToString();
        prefix = $"http://{host}:{listen.Port}{ScrapePath}/";
        url = $"http://{listen}{ScrapePath}";
        return true;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _provider?.Dispose();
        _provider = null;
        _metrics?.Dispose();
        _metrics = null;
    }

    private static partial class Log
    {
        [LoggerMessage(3000, LogLevel.Information, "metrics: serving {Url}")]
        public static partial void Serving(ILogger logger, string url);

        [LoggerMessage(3001, LogLevel.Error, "metrics.listen: cannot listen on {Listen}: {Reason}; metrics are off, the proxy keeps running")]
        public static partial void CannotListen(ILogger logger, string listen, string reason);

        [LoggerMessage(3002, LogLevel.Error, "metrics.listen: {Listen} is IPv6, which the metrics HTTP listener cannot bind on Linux; use an IPv4 address. Metrics are off, the proxy keeps running")]
        public static partial void Ipv6NotSupported(ILogger logger, string listen);
    }
}
