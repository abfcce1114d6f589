using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mono.Unix.Native;
using Serilog.Core;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.Config;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Options;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>Where the daemon's configuration came from, so that reload and the control API can read and write it.</summary>
internal sealed record ConfigSource(string Path)
{
    public string Directory => System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path)) ?? "/";
}

/// <summary>A change the daemon could not make; nothing of it was applied.</summary>
internal sealed class ApplyException : Exception
{
    public ApplyException(string code, string message, string? field = null)
        : base(message)
    {
        Code = code;
        Field = field;
    }

    public string Code { get; }

    public string? Field { get; }
}

/// <summary>
/// Owns the running data plane (event loops, dialers, inbounds) and the configuration it runs. Every change, from a
/// reload or the control API, goes through <see cref="ApplyAsync"/>: validated first, applied live, and on failure
/// the running state stays as it was.
/// </summary>
internal sealed class ProxyService : IHostedService, IDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly ConfigSource _source;
    private readonly LoggingLevelSwitch _levelSwitch;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _applyLock = new(1, 1);
    private TransparentSocksOptions _options;
    private EventLoopGroup? _loops;
    private Dispatcher? _dispatcher;
    private Socks5Server? _server;
    private TransparentController? _transparent;
    private PosixSignalRegistration? _sighup;
    private PosixSignalRegistration? _sigusr1;
    private IDialer? _serverDialer;
    private (OutboundKind, string, bool)? _serverDialerKey;

    public ProxyService(TransparentSocksOptions options, ConfigSource source, LoggingLevelSwitch levelSwitch, ILoggerFactory loggerFactory)
    {
        _options = options;
        _source = source;
        _levelSwitch = levelSwitch;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Daemon");
    }

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public SessionTable Sessions { get; } = new();

    public ConfigSource Source => _source;

    public TransparentSocksOptions Options => _options;

    public Socks5Server? Server => _server;

    public TransparentPath? TransparentPath => _transparent?.Path;

    public TransparentController? Transparent => _transparent;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _loops = new EventLoopGroup(_options.Relay.Workers);
        _dispatcher = new Dispatcher(_loggerFactory.CreateLogger("TransparentSocks.Dispatcher"));
        try
        {
            await ApplyServerAsync(_options).ConfigureAwait(false);
            await ApplyTransparentAsync(_options).ConfigureAwait(false);
        }
        catch (ApplyException ex)
        {
            if (_server is not null)
            {
                await _server.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
            }

            throw new InvalidOperationException(ex.Message, ex);
        }

        if (!_options.Server.Enabled && !_options.Transparent.Enabled)
        {
            _logger.LogWarning("neither server.enabled nor transparent.enabled is true: the daemon idles until told otherwise");
        }

        // Started under nohup (or by anything else that ignores SIGHUP), the daemon inherits SIGHUP ignored, .NET
        // leaves an ignored signal alone, and reload-on-SIGHUP silently does nothing. The defaults come back first.
        RestoreDefaultDisposition(Signum.SIGHUP);
        RestoreDefaultDisposition(Signum.SIGUSR1);
        _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = OnSignalAsync("SIGHUP reload", ReloadAsync);
        });

        // SIGUSR1 writes the statistics to the log, the way dd and many daemons report progress on request.
        _sigusr1 = PosixSignalRegistration.Create((PosixSignal)10, context =>
        {
            context.Cancel = true;
            _ = OnSignalAsync("SIGUSR1 statistics", LogStatsAsync);
        });
        _logger.LogInformation("transparentsocksd started with {Loops} event loop(s), relay {Relay}", _loops.Loops.Count, _options.Relay.Mode);
    }

    // Nobody awaits a signal's work, so a failure nobody foresaw would vanish as an unobserved task; it is logged instead.
    private async Task OnSignalAsync(string what, Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "{What} failed: {Error}", what, ex.Message);
        }
    }

    private void RestoreDefaultDisposition(Signum signal)
    {
        if (Stdlib.SetSignalAction(signal, SignalAction.Default) != 0)
        {
            _logger.LogWarning("cannot restore the default action of {Signal}: {Error}", signal, Stdlib.GetLastError());
        }
    }

    /// <summary>Re-reads the configuration file and applies it; an invalid file or a refused change keeps the running state.</summary>
    public async Task<IReadOnlyList<string>> ReloadAsync()
    {
        var result = ConfigFile.Load(_source.Path);
        if (!result.IsValid)
        {
            foreach (var error in result.Errors)
            {
                _logger.LogError("reload refused, the running configuration stays: {Error}", error);
            }

            return result.Errors;
        }

        try
        {
            await ApplyAsync(result.Options).ConfigureAwait(false);
        }
        catch (ApplyException ex)
        {
            _logger.LogError("reload refused, the running configuration stays: {Error}", ex.Message);
            return [ex.Message];
        }

        _logger.LogInformation("configuration reloaded from {Path}", _source.Path);
        return [];
    }

    /// <summary>
    /// Applies a change requested through the control API to a copy of the running configuration: validated, applied
    /// live, then written atomically to the configuration file. Throws <see cref="ApplyException"/> with nothing changed.
    /// </summary>
    public async Task<TransparentSocksOptions> ChangeAsync(Action<TransparentSocksOptions> change)
    {
        var copy = ConfigLoader.Parse(ConfigLoader.Serialize(_options), _source.Directory, ConfigFile.ReadPasswordFile);
        if (!copy.IsValid)
        {
            throw new ApplyException(TransparentSocks.Control.ErrorCodes.Internal, $"the running configuration does not round-trip: {string.Join("; ", copy.Errors)}");
        }

        var next = copy.Options;
        change(next);
        var errors = ConfigLoader.Validate(next, _source.Directory, ConfigFile.ReadPasswordFile);
        if (errors.Count > 0)
        {
            var first = errors[0];
            var colon = first.IndexOf(':', StringComparison.Ordinal);
            throw new ApplyException(TransparentSocks.Control.ErrorCodes.InvalidArgument, string.Join("; ", errors), colon > 0 ? first[..colon] : null);
        }

        await ApplyAsync(next).ConfigureAwait(false);
        try
        {
            ConfigFile.Save(next, _source.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The change runs; say loudly that it will not survive a restart.
            _logger.LogError("applied, but could not write {Path}: {Error}", _source.Path, ex.Message);
            throw new ApplyException(TransparentSocks.Control.ErrorCodes.Internal, $"applied, but could not save {_source.Path}: {ex.Message}");
        }

        return next;
    }

    /// <summary>Moves the running daemon to <paramref name="next"/> (already validated).</summary>
    public async Task ApplyAsync(TransparentSocksOptions next)
    {
        await _applyLock.WaitAsync().ConfigureAwait(false);
        try
        {
            var previous = _options;

            // The transparent path is the part most likely to be refused (nft, a missing interface), so it goes
            // first; if the server then fails, the path is put back.
            await ApplyTransparentAsync(next).ConfigureAwait(false);
            try
            {
                await ApplyServerAsync(next).ConfigureAwait(false);
            }
            catch (ApplyException)
            {
                try
                {
                    await ApplyTransparentAsync(previous).ConfigureAwait(false);
                }
                catch (ApplyException ex)
                {
                    _logger.LogError("could not restore the transparent path after a failed change: {Error}", ex.Message);
                }

                throw;
            }

            _levelSwitch.MinimumLevel = Program.ToSerilog(next.Logging.Level);
            foreach (var section in RestartOnly(previous, next))
            {
                _logger.LogWarning("{Section} changed: it takes effect when the daemon restarts", section);
            }

            _options = next;
        }
        finally
        {
            _applyLock.Release();
        }
    }

    /// <summary>Settings read once at start: the control socket, the metrics listener and the event-loop count.</summary>
    private static IEnumerable<string> RestartOnly(TransparentSocksOptions current, TransparentSocksOptions next)
    {
        if (current.Control.Socket != next.Control.Socket || current.Control.Group != next.Control.Group)
        {
            yield return "control";
        }

        if (current.Metrics.Enabled != next.Metrics.Enabled || current.Metrics.Listen != next.Metrics.Listen)
        {
            yield return "metrics";
        }

        if (current.Relay.Workers != next.Relay.Workers)
        {
            yield return "relay.workers";
        }
    }

    private async Task ApplyServerAsync(TransparentSocksOptions next)
    {
        if (!next.Server.Enabled)
        {
            if (_server is not null && _server.IsListening)
            {
                await _server.StopListeningAsync().ConfigureAwait(false);
            }

            return;
        }

        var settings = Socks5ServerSettings.FromOptions(next);
        var dialer = ServerDialer(next);
        try
        {
            if (_server is null)
            {
                _server = new Socks5Server(settings, dialer, _loops!, Sessions, _dispatcher!, _loggerFactory.CreateLogger("TransparentSocks.Server"));
                _server.Start();
            }
            else if (!_server.IsListening)
            {
                await _server.ReconfigureAsync(settings, dialer).ConfigureAwait(false);
                _server.Start();
            }
            else
            {
                await _server.ReconfigureAsync(settings, dialer).ConfigureAwait(false);
            }
        }
        catch (SocketException ex)
        {
            throw new ApplyException(TransparentSocks.Control.ErrorCodes.FailedPrecondition, $"server.listen: cannot listen on {next.Server.Listen}: {ex.Message}", "server.listen");
        }
    }

    private async Task ApplyTransparentAsync(TransparentSocksOptions next)
    {
        try
        {
            if (!next.Transparent.Enabled)
            {
                if (_transparent is not null)
                {
                    await _transparent.StopAsync(next.Relay.DrainTimeout).ConfigureAwait(false);
                    _transparent = null;
                }

                return;
            }

            if (_transparent is not null && TransparentController.IsStructuralChange(_transparent.Options, next.Transparent))
            {
                _logger.LogWarning("transparent mode, port, families or marks changed: the transparent path restarts and its sessions are reset");
                await _transparent.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
                _transparent = null;
            }

            if (_transparent is null)
            {
                var controller = new TransparentController(_loops!, Sessions, _dispatcher!, _loggerFactory);
                await controller.StartAsync(next).ConfigureAwait(false);
                _transparent = controller;
            }
            else
            {
                await _transparent.ReconfigureAsync(next).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Network.NftException)
        {
            var colon = ex.Message.IndexOf(':', StringComparison.Ordinal);
            var field = colon > 0 && ex.Message[..colon].Contains('.', StringComparison.Ordinal) ? ex.Message[..colon] : null;
            throw new ApplyException(TransparentSocks.Control.ErrorCodes.FailedPrecondition, ex.Message, field);
        }
    }

    private async Task LogStatsAsync()
    {
        foreach (var line in await StatsReport.BuildAsync(_server, _transparent?.Path, Sessions).ConfigureAwait(false))
        {
            _logger.LogInformation("stats: {Line}", line);
        }
    }

    /// <summary>
    /// The server's dialer for <paramref name="options"/>: the running one when nothing it depends on changed, so an
    /// unrelated change (a timeout, an interface) keeps its pool; otherwise a new one, and the old one is released.
    /// </summary>
    private IDialer ServerDialer(TransparentSocksOptions options)
    {
        var key = (options.Server.Outbound, ConfigLoader.Serialize(new TransparentSocksOptions { Upstream = options.Upstream }), options.Transparent.Enabled);
        if (_serverDialer is not null && _serverDialerKey == key)
        {
            return _serverDialer;
        }

        var old = _serverDialer;
        _serverDialer = CreateServerDialer(options);
        _serverDialerKey = key;
        if (old is IAsyncDisposable disposable)
        {
            // Sessions that already dialed own their sockets; only the idle pool goes.
            _ = disposable.DisposeAsync().AsTask();
        }

        return _serverDialer;
    }

    private IDialer CreateServerDialer(TransparentSocksOptions options)
    {
        var upstream = options.Upstream;
        var mark = upstream.EffectiveMark(options.Transparent.Enabled);
        if (options.Server.Outbound == OutboundKind.Direct)
        {
            return new DirectDialer(upstream.ConnectTimeout, mark);
        }

        return new Socks5Dialer(new Socks5DialerSettings
        {
            Server = upstream.Endpoint ?? throw new ApplyException(TransparentSocks.Control.ErrorCodes.InvalidArgument, "upstream.address: required for outbound \"upstream\"", "upstream.address"),
            Username = upstream.Username,
            Password = upstream.EffectivePassword,
            ConnectTimeout = upstream.ConnectTimeout,
            HandshakeTimeout = upstream.HandshakeTimeout,
            Mark = mark,
            Pooling = upstream.Pooling,
            MaxPoolSize = upstream.MaxPoolSize,
            PoolLoops = _loops,
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        var drain = _options.Relay.DrainTimeout;
        _logger.LogInformation("stopping: draining sessions for up to {DrainSeconds} s", drain.TotalSeconds);
        var stops = new List<Task>();
        if (_server is not null)
        {
            stops.Add(_server.StopAsync(drain));
        }

        if (_transparent is not null)
        {
            stops.Add(_transparent.StopAsync(drain));
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
        if (_serverDialer is IAsyncDisposable dialer)
        {
            await dialer.DisposeAsync().ConfigureAwait(false);
        }

        _logger.LogInformation("transparentsocksd stopped");
    }

    public void Dispose()
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        _loops?.Dispose();
        _applyLock.Dispose();
    }
}
