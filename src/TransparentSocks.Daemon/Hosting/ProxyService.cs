using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Mono.Unix.Native;
using Serilog.Core;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>
/// The daemon as the host sees it: it starts the engine and the configuration it runs (<see cref="DaemonRuntime"/>),
/// answers SIGHUP (reload) and SIGUSR1 (statistics), and drains on stop.
/// </summary>
internal sealed class ProxyService : IHostedService, IDisposable
{
    private readonly ConfigSource _source;
    private readonly ILogger _logger;
    private readonly ProxyEngine _engine;
    private readonly DaemonRuntime _runtime;
    private PosixSignalRegistration? _sighup;
    private PosixSignalRegistration? _sigusr1;

    public ProxyService(TransparentSocksOptions options, ConfigSource source, LoggingLevelSwitch levelSwitch, ILoggerFactory loggerFactory)
    {
        _source = source;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Daemon");
        // Before the first listener: the budget is measured against what the process holds before serving anyone.
        FdBudget.Initialize();
        _engine = new ProxyEngine(options.Relay.Workers, loggerFactory);
        _runtime = new DaemonRuntime(_engine, options, source, levelSwitch, _logger);
    }

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public ProxyEngine Engine => _engine;

    public SessionTable Sessions => _engine.Sessions;

    public ConfigSource Source => _source;

    public TransparentSocksOptions Options => _runtime.Options;

    public Socks5Server? Server => _engine.Server;

    public TransparentPath? TransparentPath => _engine.Transparent;

    public TransparentController? Transparent => _runtime.Transparent;

    /// <summary>The upstreams and groups the running configuration names.</summary>
    public UpstreamCatalog? Upstreams => _runtime.Upstreams;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _runtime.StartAsync().ConfigureAwait(false);
        var options = _runtime.Options;
        if (!options.Server.Enabled && !options.Transparent.Enabled)
        {
            Log.Idle(_logger);
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
        Log.Started(_logger, _engine.Workers, options.Relay.Mode);
        Log.DescriptorBudget(_logger, FdBudget.Limit, FdBudget.InitialLimit, FdBudget.Ceiling, FdBudget.Reserve);
    }

    /// <summary>Re-reads the configuration file and applies it; an invalid file or a refused change keeps the running state.</summary>
    public Task<IReadOnlyList<string>> ReloadAsync() => _runtime.ReloadAsync();

    /// <inheritdoc cref="DaemonRuntime.ChangeAsync"/>
    public Task<TransparentSocksOptions> ChangeAsync(Action<TransparentSocksOptions> change) => _runtime.ChangeAsync(change);

    /// <inheritdoc cref="DaemonRuntime.ApplyAsync"/>
    public Task ApplyAsync(TransparentSocksOptions next) => _runtime.ApplyAsync(next);

    // Nobody awaits a signal's work, so a failure nobody foresaw would vanish as an unobserved task; it is logged instead.
    private async Task OnSignalAsync(string what, Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.SignalWorkFailed(_logger, ex, what, ex.Message);
        }
    }

    private void RestoreDefaultDisposition(Signum signal)
    {
        if (Stdlib.SetSignalAction(signal, SignalAction.Default) != 0)
        {
            Log.SignalDispositionFailed(_logger, signal.ToString(), Stdlib.GetLastError().ToString());
        }
    }

    private async Task LogStatsAsync()
    {
        foreach (var line in await StatsReport.BuildAsync(_engine).ConfigureAwait(false))
        {
            Log.Stats(_logger, line);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        var drain = _runtime.Options.Relay.DrainTimeout;
        Log.Stopping(_logger, drain.TotalSeconds);
        await _runtime.StopAsync(drain).ConfigureAwait(false);
        Log.Stopped(_logger);
    }

    // The host has stopped the service (StopAsync) before it disposes it; only the signal handlers and loops remain.
    public void Dispose()
    {
        _sighup?.Dispose();
        _sigusr1?.Dispose();
        _runtime.Dispose();
        _engine.Dispose();
    }
}
