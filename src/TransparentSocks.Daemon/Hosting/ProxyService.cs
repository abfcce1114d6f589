using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Options;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>Where the daemon's configuration came from, so that SIGHUP can read it again.</summary>
internal sealed record ConfigSource(string Path);

/// <summary>Owns the running data plane: event loops, dialers and inbounds, built from one validated config.</summary>
internal sealed class ProxyService : IHostedService, IDisposable
{
    private static readonly TimeSpan Drain = TimeSpan.FromSeconds(5);

    private readonly ILoggerFactory _loggerFactory;
    private readonly ConfigSource _source;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private TransparentSocksOptions _options;
    private EventLoopGroup? _loops;
    private Socks5Server? _server;
    private TransparentController? _transparent;
    private PosixSignalRegistration? _sighup;
    private PosixSignalRegistration? _sigusr1;

    public ProxyService(TransparentSocksOptions options, ConfigSource source, ILoggerFactory loggerFactory)
    {
        _options = options;
        _source = source;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Daemon");
    }

    public SessionTable Sessions { get; } = new();

    public Socks5Server? Server => _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loops = new EventLoopGroup(_options.Relay.Workers);
        var dispatcher = new Dispatcher(_loggerFactory.CreateLogger("TransparentSocks.Dispatcher"));
        if (_options.Server.Enabled)
        {
            _server = new Socks5Server(
                Socks5ServerSettings.FromOptions(_options), CreateServerDialer(), _loops, Sessions, dispatcher,
                _loggerFactory.CreateLogger("TransparentSocks.Server"));
            try
            {
                _server.Start();
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"server.listen: cannot listen on {_options.Server.Listen}: {ex.Message}", ex);
            }
        }

        if (_options.Transparent.Enabled)
        {
            _transparent = new TransparentController(_loops, Sessions, dispatcher, _loggerFactory);
            try
            {
                await _transparent.StartAsync(_options).ConfigureAwait(false);
            }
            catch
            {
                _transparent = null;
                if (_server is not null)
                {
                    await _server.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
                }

                throw;
            }
        }

        if (!_options.Server.Enabled && !_options.Transparent.Enabled)
        {
            _logger.LogWarning("neither server.enabled nor transparent.enabled is true: the daemon idles");
        }

        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = ReloadAsync();
        });

        // SIGUSR1 writes the statistics to the log, the way dd and many daemons report progress on request.
        _sigusr1 = PosixSignalRegistration.Create((PosixSignal)10, context =>
        {
            context.Cancel = true;
            _ = LogStatsAsync();
        });
        _logger.LogInformation("transparentsocksd started with {Loops} event loop(s), relay {Relay}", _loops.Loops.Count, _options.Relay.Mode);
    }

    private async Task LogStatsAsync()
    {
        foreach (var line in await StatsReport.BuildAsync(_server, _transparent?.Path, Sessions).ConfigureAwait(false))
        {
            _logger.LogInformation("stats: {Line}", line);
        }
    }

    /// <summary>
    /// Re-reads the configuration file. An invalid file is refused with every error named and the running
    /// configuration stays; the transparent path's interfaces and bypass list are applied live.
    /// </summary>
    public async Task<IReadOnlyList<string>> ReloadAsync()
    {
        await _reloadLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var result = ConfigLoader.Load(_source.Path);
            if (!result.IsValid)
            {
                foreach (var error in result.Errors)
                {
                    _logger.LogError("reload refused, the running configuration stays: {Error}", error);
                }

                return result.Errors;
            }

            var next = result.Options;
            var restartNeeded = RestartNeeded(_options, next);
            if (restartNeeded.Count > 0)
            {
                _logger.LogWarning("reload: {Sections} changed; those take effect on restart", string.Join(", ", restartNeeded));
            }

            if (_transparent is not null && next.Transparent.Enabled)
            {
                try
                {
                    await _transparent.ReconfigureAsync(next).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is Network.NftException or InvalidOperationException)
                {
                    _logger.LogError("reload refused, the running configuration stays: {Error}", ex.Message);
                    return [ex.Message];
                }
            }

            _options = next;
            _logger.LogInformation("configuration reloaded from {Path}", _source.Path);
            return [];
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    private static List<string> RestartNeeded(TransparentSocksOptions current, TransparentSocksOptions next)
    {
        var sections = new List<string>();
        if (ConfigLoader.Serialize(new TransparentSocksOptions { Server = current.Server }) != ConfigLoader.Serialize(new TransparentSocksOptions { Server = next.Server }))
        {
            sections.Add("server");
        }

        if (ConfigLoader.Serialize(new TransparentSocksOptions { Upstream = current.Upstream }) != ConfigLoader.Serialize(new TransparentSocksOptions { Upstream = next.Upstream }))
        {
            sections.Add("upstream");
        }

        if (ConfigLoader.Serialize(new TransparentSocksOptions { Relay = current.Relay }) != ConfigLoader.Serialize(new TransparentSocksOptions { Relay = next.Relay }))
        {
            sections.Add("relay");
        }

        var a = current.Transparent;
        var b = next.Transparent;
        if (a.Enabled != b.Enabled || a.Mode != b.Mode || a.Port != b.Port || a.IPv6 != b.IPv6 || a.Fwmark != b.Fwmark
            || a.RouteTable != b.RouteTable || a.RulePriority != b.RulePriority || a.IdleTimeoutSeconds != b.IdleTimeoutSeconds)
        {
            sections.Add("transparent (other than interfaces and bypass)");
        }

        return sections;
    }

    private IDialer CreateServerDialer()
    {
        var upstream = _options.Upstream;
        var mark = upstream.EffectiveMark(_options.Transparent.Enabled);
        if (_options.Server.Outbound == OutboundKind.Direct)
        {
            return new DirectDialer(upstream.ConnectTimeout, mark);
        }

        return new Socks5Dialer(new Socks5DialerSettings
        {
            Server = upstream.Endpoint ?? throw new InvalidOperationException("upstream.address: required for outbound \"upstream\""),
            Username = upstream.Username,
            Password = upstream.EffectivePassword,
            ConnectTimeout = upstream.ConnectTimeout,
            HandshakeTimeout = upstream.HandshakeTimeout,
            Mark = mark,
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        var stops = new List<Task>();
        if (_server is not null)
        {
            stops.Add(_server.StopAsync(Drain));
        }

        if (_transparent is not null)
        {
            stops.Add(_transparent.StopAsync(Drain));
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
        _logger.LogInformation("transparentsocksd stopped");
    }

    public void Dispose()
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        _loops?.Dispose();
        _reloadLock.Dispose();
    }
}
