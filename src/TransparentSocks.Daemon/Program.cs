using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;
using TransparentSocks.Linux.Config;

namespace TransparentSocks.Daemon;

internal static class Program
{
    private const string Usage = """
        Usage: transparentsocksd [--config FILE] [--check | --cleanup]

          --config FILE   configuration file (default /etc/transparentsocks/config.json)
          --check         validate the configuration and exit (0 = valid, 2 = invalid)
          --cleanup       remove the nft table and policy routes a crashed daemon left, then exit
          --version       print the version and exit
        """;

    public static async Task<int> Main(string[] args)
    {
        var configPath = ConfigFile.DefaultPath;
        var checkOnly = false;
        var cleanup = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" or "-c" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "--check":
                    checkOnly = true;
                    break;
                case "--cleanup":
                    cleanup = true;
                    break;
                case "--version":
                    Console.WriteLine(typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
                    return 0;
                case "--help" or "-h":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"transparentsocksd: unknown argument '{args[i]}'");
                    Console.Error.WriteLine(Usage);
                    return 64;
            }
        }

        // systemd: ExecStopPost runs this even when the config is broken, so it comes before validation.
        if (cleanup)
        {
            return await Systemd.Cleanup.RunAsync(configPath).ConfigureAwait(false);
        }

        var config = ConfigFile.Load(configPath);
        if (!config.IsValid)
        {
            Console.Error.WriteLine($"transparentsocksd: {configPath} is invalid:");
            foreach (var error in config.Errors)
            {
                Console.Error.WriteLine($"  {error}");
            }

            return 2;
        }

        if (checkOnly)
        {
            Console.WriteLine($"{configPath}: valid");
            return 0;
        }

        var options = config.Options;
        var levelSwitch = new Serilog.Core.LoggingLevelSwitch(ToSerilog(options.Logging.Level));
        var logging = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(levelSwitch)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.FromLogContext();

        // systemd: under a unit, log natively to journald (priorities and fields); the console copy would only
        // duplicate every line in the journal.
        Serilog.Log.Logger = (Systemd.JournaldSink.UnderSystemd()
                ? logging.WriteTo.Sink(new Systemd.JournaldSink("transparentsocksd"))
                : logging.WriteTo.Console(outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} [{Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}"))
            .CreateLogger();

        try
        {
            Serilog.Log.Information("transparentsocksd starting with {ConfigPath}", configPath);
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Services.AddSerilog(dispose: false);
            builder.Services.AddSingleton(options);
            builder.Services.AddSingleton(new ConfigSource(configPath));
            builder.Services.AddSingleton(levelSwitch);
            builder.Services.AddSingleton<ProxyService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ProxyService>());

            // Registered after the data plane so it starts once there is something to control, and stops first.
            builder.Services.AddHostedService<Control.ControlServer>();
            builder.Services.AddHostedService<Metrics.MetricsService>();
            builder.Services.AddHostedService<Hosting.MemoryTrimmer>();

            // systemd: READY=1 once every hosted service above has started, STATUS, STOPPING=1 and the watchdog.
            builder.Services.AddHostedService<Systemd.SystemdNotifier>();
            // Sized from the longest drain the config allows (not the current one, which a reload may raise), plus the
            // time to remove rules and routes; systemd's TimeoutStopSec is above this in turn.
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(RelayOptions.MaxDrainTimeoutSeconds + 15));
            using var host = builder.Build();
            try
            {
                await host.StartAsync().ConfigureAwait(false);
            }
            catch
            {
                // A service that fails to start does not stop the ones before it; stopping the host does, so the
                // nft table and routes the data plane installed are removed rather than left behind.
                await host.StopAsync().ConfigureAwait(false);
                throw;
            }

            await host.WaitForShutdownAsync().ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Net.Sockets.SocketException)
        {
            Serilog.Log.Fatal("transparentsocksd cannot start: {Reason}", ex.Message);
            return 1;
        }
        finally
        {
            await Serilog.Log.CloseAndFlushAsync().ConfigureAwait(false);
        }
    }

    internal static LogEventLevel ToSerilog(LogLevelName level) => level switch
    {
        LogLevelName.Verbose => LogEventLevel.Verbose,
        LogLevelName.Debug => LogEventLevel.Debug,
        LogLevelName.Warning => LogEventLevel.Warning,
        LogLevelName.Error => LogEventLevel.Error,
        _ => LogEventLevel.Information,
    };
}
