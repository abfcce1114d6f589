using System.Net.Sockets;
using Serilog.Core;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Linux.Config;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>
/// The configuration the daemon runs and the one way to change it. Every change, from a reload or the control API,
/// goes through <see cref="ApplyAsync"/>: validated first, applied live, and on failure the running state stays as
/// it was (the transparent path is put back when the server then refuses).
/// </summary>
internal sealed class DaemonRuntime : IDisposable
{
    private readonly ProxyEngine _engine;
    private readonly ConfigSource _source;
    private readonly LoggingLevelSwitch _levelSwitch;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _applyLock = new(1, 1);

    // Held from the copy of the running config to the save of the changed one, by changes and reloads alike: two
    // changes that copied the same config would otherwise each save their own, and the later one would undo the
    // earlier without a word. The apply lock alone covers only the middle step.
    private readonly SemaphoreSlim _changeLock = new(1, 1);
    private TransparentSocksOptions _options;
    private TransparentController? _transparent;
    private UpstreamCatalog? _upstreams;

    public DaemonRuntime(ProxyEngine engine, TransparentSocksOptions options, ConfigSource source, LoggingLevelSwitch levelSwitch, ILogger logger)
    {
        _engine = engine;
        _options = options;
        _source = source;
        _levelSwitch = levelSwitch;
        _logger = logger;
    }

    public TransparentSocksOptions Options => _options;

    public TransparentController? Transparent => _transparent;

    /// <summary>The upstreams and groups the running configuration names; null before the start.</summary>
    public UpstreamCatalog? Upstreams => _upstreams;

    /// <summary>Brings up what the initial configuration enables; on failure nothing stays half-started.</summary>
    public async Task StartAsync()
    {
        var upstreams = _engine.BuildUpstreams(_options, null);
        try
        {
            await ApplyServerAsync(_options, upstreams).ConfigureAwait(false);
            await ApplyTransparentAsync(_options, upstreams).ConfigureAwait(false);
        }
        catch (ApplyException ex)
        {
            await _engine.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
            await upstreams.RetireAsync(null).ConfigureAwait(false);
            throw new InvalidOperationException(ex.Message, ex);
        }

        _upstreams = upstreams;
    }

    /// <summary>Re-reads the configuration file and applies it; an invalid file or a refused change keeps the running state.</summary>
    public async Task<IReadOnlyList<string>> ReloadAsync()
    {
        await _changeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return await ReloadCoreAsync().ConfigureAwait(false);
        }
        finally
        {
            _changeLock.Release();
        }
    }

    private async Task<IReadOnlyList<string>> ReloadCoreAsync()
    {
        var result = ConfigFile.Load(_source.Path);
        if (!result.IsValid)
        {
            foreach (var error in result.Errors)
            {
                Log.ReloadRefused(_logger, error);
            }

            return result.Errors;
        }

        try
        {
            await ApplyAsync(result.Options).ConfigureAwait(false);
        }
        catch (ApplyException ex)
        {
            Log.ReloadRefused(_logger, ex.Message);
            return [ex.Message];
        }

        Log.Reloaded(_logger, _source.Path);
        return [];
    }

    /// <summary>
    /// Applies a change requested through the control API to a copy of the running configuration: validated, applied
    /// live, then written atomically to the configuration file. Throws <see cref="ApplyException"/> with nothing changed.
    /// </summary>
    public async Task<TransparentSocksOptions> ChangeAsync(Action<TransparentSocksOptions> change)
    {
        await _changeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return await ChangeCoreAsync(change).ConfigureAwait(false);
        }
        finally
        {
            _changeLock.Release();
        }
    }

    private async Task<TransparentSocksOptions> ChangeCoreAsync(Action<TransparentSocksOptions> change)
    {
        var copy = ConfigLoader.Parse(ConfigLoader.Serialize(_options), _source.Directory, ConfigFile.ReadPasswordFile);
        if (!copy.IsValid)
        {
            throw new ApplyException(ErrorCodes.Internal, $"the running configuration does not round-trip: {string.Join("; ", copy.Errors)}");
        }

        var next = copy.Options;
        change(next);
        var errors = ConfigLoader.Validate(next, _source.Directory, ConfigFile.ReadPasswordFile);
        if (errors.Count > 0)
        {
            var first = errors[0];
            var colon = first.IndexOf(':', StringComparison.Ordinal);
            throw new ApplyException(ErrorCodes.InvalidArgument, string.Join("; ", errors), colon > 0 ? first[..colon] : null);
        }

        // The file is written first and only renamed into place once the change runs: a full disk or a read-only
        // directory refuses the change with nothing changed, rather than leaving a running change that a restart
        // would silently undo.
        ConfigFile.StagedConfig staged;
        try
        {
            staged = ConfigFile.Stage(next, _source.Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.SaveRefused(_logger, _source.Path, ex.Message);
            throw new ApplyException(ErrorCodes.FailedPrecondition, $"cannot save {_source.Path}: {ex.Message}; nothing was changed");
        }

        using (staged)
        {
            var previous = _options;
            await ApplyAsync(next).ConfigureAwait(false);
            try
            {
                staged.Commit();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Written but not renamed (the directory went read-only in between): put the running state back too.
                Log.SaveRefused(_logger, _source.Path, ex.Message);
                await ApplyAsync(previous).ConfigureAwait(false);
                throw new ApplyException(ErrorCodes.FailedPrecondition, $"cannot save {_source.Path}: {ex.Message}; the change was undone");
            }
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
            var previousUpstreams = _upstreams;
            var upstreams = _engine.BuildUpstreams(next, previousUpstreams);

            // The transparent path is the part most likely to be refused (nft, a missing interface), so it goes
            // first; if the server then fails, the path is put back.
            try
            {
                await ApplyTransparentAsync(next, upstreams).ConfigureAwait(false);
            }
            catch (ApplyException)
            {
                await upstreams.RetireAsync(previousUpstreams).ConfigureAwait(false);
                throw;
            }

            try
            {
                await ApplyServerAsync(next, upstreams).ConfigureAwait(false);
            }
            catch (ApplyException)
            {
                try
                {
                    await ApplyTransparentAsync(previous, previousUpstreams ?? upstreams).ConfigureAwait(false);
                }
                catch (ApplyException ex)
                {
                    Log.RollbackFailed(_logger, ex.Message);
                }

                await upstreams.RetireAsync(previousUpstreams).ConfigureAwait(false);
                throw;
            }

            // Sessions that already dialed own their sockets; only idle pools and the checks of what went away stop.
            _upstreams = upstreams;
            if (previousUpstreams is not null)
            {
                await previousUpstreams.RetireAsync(upstreams).ConfigureAwait(false);
            }

            _levelSwitch.MinimumLevel = Program.ToSerilog(next.Logging.Level);
            foreach (var section in RestartOnly(previous, next))
            {
                Log.RestartNeeded(_logger, section);
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

    private async Task ApplyServerAsync(TransparentSocksOptions next, UpstreamCatalog upstreams)
    {
        if (!next.Server.Enabled)
        {
            await _engine.StopServerListeningAsync().ConfigureAwait(false);
            return;
        }

        try
        {
            await _engine.ApplyServerAsync(next, ServerDialer(next, upstreams)).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new ApplyException(ErrorCodes.FailedPrecondition, $"server.listen: cannot listen on {next.Server.Listen}: {ex.Message}", "server.listen");
        }
    }

    private async Task ApplyTransparentAsync(TransparentSocksOptions next, UpstreamCatalog upstreams)
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
                Log.TransparentRestarting(_logger);
                await _transparent.StopAsync(TimeSpan.Zero).ConfigureAwait(false);
                _transparent = null;
            }

            if (_transparent is null)
            {
                var controller = new TransparentController(_engine, _logger);
                await controller.StartAsync(next, upstreams).ConfigureAwait(false);
                _transparent = controller;
            }
            else
            {
                await _transparent.ReconfigureAsync(next, upstreams).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Network.NftException)
        {
            var colon = ex.Message.IndexOf(':', StringComparison.Ordinal);
            var field = colon > 0 && ex.Message[..colon].Contains('.', StringComparison.Ordinal) ? ex.Message[..colon] : null;
            throw new ApplyException(ErrorCodes.FailedPrecondition, ex.Message, field);
        }
    }

    private static IDialer ServerDialer(TransparentSocksOptions options, UpstreamCatalog upstreams)
    {
        try
        {
            return upstreams.ForServer(options.Server);
        }
        catch (InvalidOperationException ex)
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, ex.Message, "server.outbound");
        }
    }

    /// <summary>Stops the inbounds, drains their sessions, removes the nft table and routes, and releases the dialers.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        var stops = new List<Task> { _engine.StopServerAsync(drain) };
        if (_transparent is not null)
        {
            stops.Add(_transparent.StopAsync(drain));
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
        if (_upstreams is not null)
        {
            await _upstreams.RetireAsync(null).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _applyLock.Dispose();
        _changeLock.Dispose();
    }
}
