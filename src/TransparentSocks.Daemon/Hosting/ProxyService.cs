using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Options;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>Owns the running data plane: event loops, dialers and inbounds, built from one validated config.</summary>
internal sealed class ProxyService : IHostedService, IDisposable
{
    private readonly TransparentSocksOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private EventLoopGroup? _loops;
    private Socks5Server? _server;

    public ProxyService(TransparentSocksOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Daemon");
    }

    public SessionTable Sessions { get; } = new();

    public Socks5Server? Server => _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loops = new EventLoopGroup(_options.Relay.Workers);
        var dispatcher = new Dispatcher(_loggerFactory.CreateLogger("TransparentSocks.Dispatcher"));
        if (_options.Server.Enabled)
        {
            var dialer = CreateDialer(_options.Server.Outbound);
            _server = new Socks5Server(
                Socks5ServerSettings.FromOptions(_options), dialer, _loops, Sessions, dispatcher,
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
        else
        {
            _logger.LogWarning("server.enabled is false: no inbound is configured, the daemon idles");
        }

        _logger.LogInformation("transparentsocksd started with {Loops} event loop(s), relay {Relay}", _loops.Loops.Count, _options.Relay.Mode);
        return Task.CompletedTask;
    }

    private IDialer CreateDialer(OutboundKind kind)
    {
        var upstream = _options.Upstream;
        if (kind == OutboundKind.Direct)
        {
            return new DirectDialer(upstream.ConnectTimeout, upstream.Mark);
        }

        return new Socks5Dialer(new Socks5DialerSettings
        {
            Server = upstream.Endpoint ?? throw new InvalidOperationException("upstream.address: required for outbound \"upstream\""),
            Username = upstream.Username,
            Password = upstream.EffectivePassword,
            ConnectTimeout = upstream.ConnectTimeout,
            HandshakeTimeout = upstream.HandshakeTimeout,
            Mark = upstream.Mark,
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }

        _logger.LogInformation("transparentsocksd stopped");
    }

    public void Dispose() => _loops?.Dispose();
}
