using System.Globalization;
using Microsoft.Extensions.Hosting;

namespace TransparentSocks.Daemon.Systemd;

/// <summary>
/// Tells systemd what the daemon is doing: READY once every hosted service has started (so the listeners are bound
/// and the nft rules and routes are in place), a STATUS line kept current, STOPPING as soon as shutdown begins, and
/// watchdog pings when the unit sets WatchdogSec. Without NOTIFY_SOCKET it does nothing.
/// </summary>
internal sealed class SystemdNotifier : IHostedService, IDisposable
{
    private static readonly TimeSpan StatusInterval = TimeSpan.FromSeconds(5);

    private readonly IHostApplicationLifetime _lifetime;
    private readonly ProxyService _proxy;
    private readonly SdNotify? _notify = SdNotify.FromEnvironment();
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    public SystemdNotifier(IHostApplicationLifetime lifetime, ProxyService proxy)
    {
        _lifetime = lifetime;
        _proxy = proxy;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_notify is null)
        {
            return Task.CompletedTask;
        }

        // ApplicationStarted fires after the last hosted service's StartAsync, whatever order they were added in.
        _lifetime.ApplicationStarted.Register(() =>
        {
            _notify.Send($"READY=1\nMAINPID={Environment.ProcessId}\nSTATUS={Status()}");
            _loop = RunAsync(_stop.Token);
        });
        _lifetime.ApplicationStopping.Register(() => _notify.Send("STOPPING=1\nSTATUS=stopping: draining sessions, then removing rules and routes"));
        return Task.CompletedTask;
    }

    // The loop keeps running through the drain, so a watchdog cannot kill a slow but healthy stop; Dispose ends it.
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task RunAsync(CancellationToken token)
    {
        var watchdog = SdNotify.WatchdogInterval();

        // Half the watchdog interval, as sd_watchdog_enabled(3) recommends.
        var period = watchdog is { } w && w / 2 < StatusInterval ? w / 2 : StatusInterval;
        using var timer = new PeriodicTimer(period);
        var lastStatus = DateTime.UtcNow;
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                var message = watchdog is null ? null : "WATCHDOG=1";
                if (!_lifetime.ApplicationStopping.IsCancellationRequested && DateTime.UtcNow - lastStatus >= StatusInterval - TimeSpan.FromMilliseconds(50))
                {
                    message = message is null ? $"STATUS={Status()}" : $"{message}\nSTATUS={Status()}";
                    lastStatus = DateTime.UtcNow;
                }

                if (message is not null)
                {
                    _notify!.Send(message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One line for <c>systemctl status</c>, e.g. "2 interfaces, 5 sessions, server on 127.0.0.1:1080".</summary>
    private string Status()
    {
        var options = _proxy.Options;
        var interfaces = options.Transparent.Enabled ? options.Transparent.Interfaces.Count : 0;
        var sessions = _proxy.Sessions.Count;
        var status = string.Create(CultureInfo.InvariantCulture, $"{interfaces} interface{(interfaces == 1 ? "" : "s")}, {sessions} session{(sessions == 1 ? "" : "s")}");
        return options.Server.Enabled ? $"{status}, server on {options.Server.Listen}" : status;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _loop.GetAwaiter().GetResult();
        _stop.Dispose();
        _notify?.Dispose();
    }
}
