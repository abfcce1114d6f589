using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

/// <summary><c>set endpoint|timeout|pooling|max-pool-size|verbose</c>: one PUT each, answered with the new state.</summary>
internal static class SetCommands
{
    public static Command Create(GlobalOptions globals) => new("set", """
        Change a setting of the running daemon; it applies at once.

        Examples:
          transparentsocks set endpoint 127.0.0.1:1081
          transparentsocks set timeout 600
          transparentsocks set verbose on
        """)
    {
        Endpoint(globals),
        Setting(
            globals,
            "timeout",
            """
            Set the idle timeout of new sessions, on the server and on every interface.

            Example:
              transparentsocks set timeout 600
            """,
            new Argument<double>("SECONDS")
            {
                Description = "Seconds without traffic before a session is closed (0.001 to 2147483, in whole milliseconds)",
                CustomParser = r => Parsers.Duration(r, "the idle timeout"),
            },
            seconds => ControlRequest.Put(ControlApi.Timeout, new SetTimeoutRequest(seconds), ControlJsonContext.Default.SetTimeoutRequest)),
        Setting(
            globals,
            "pooling",
            """
            Turn pooling of pre-authenticated upstream connections on or off.

            Example:
              transparentsocks set pooling on
            """,
            Parsers.OnOffArgument("STATE", "pooling"),
            on => ControlRequest.Put(ControlApi.Pooling, new SetPoolingRequest(on), ControlJsonContext.Default.SetPoolingRequest)),
        Setting(
            globals,
            "max-pool-size",
            """
            Set how many idle pre-authenticated connections are kept per upstream.

            Example:
              transparentsocks set max-pool-size 8
            """,
            new Argument<int>("N")
            {
                Description = "Idle pooled connections kept per upstream (0 or more)",
                CustomParser = r => Parsers.NonNegativeInt(r, "the pool size"),
            },
            size => ControlRequest.Put(ControlApi.MaxPoolSize, new SetMaxPoolSizeRequest(size), ControlJsonContext.Default.SetMaxPoolSizeRequest)),
        Setting(
            globals,
            "verbose",
            """
            Turn debug logging on or off at once, without a restart.

            Example:
              transparentsocks set verbose on
            """,
            Parsers.OnOffArgument("STATE", "verbose"),
            on => ControlRequest.Put(ControlApi.Verbose, new SetVerboseRequest(on), ControlJsonContext.Default.SetVerboseRequest)),
    };

    private static Command Endpoint(GlobalOptions globals)
    {
        var address = new Argument<string>("HOST:PORT")
        {
            Description = "The upstream SOCKS5 proxy; write IPv6 addresses as [addr]:port",
            CustomParser = r => Parsers.Upstream(r, "endpoint"),
        };
        return new Command("endpoint", """
            Set the default upstream SOCKS5 proxy, used by the server and by every interface without its own --proxy.

            Examples:
              transparentsocks set endpoint 127.0.0.1:1081
              transparentsocks set endpoint [fd00::1]:1080 --username gw --password-file /etc/transparentsocks/upstream.pass
            """)
        {
            address,
        }.CallsWithCredentials(
            globals,
            "the upstream",
            (parse, username, password) => ControlRequest.Put(
                ControlApi.Endpoint,
                new SetEndpointRequest { Address = parse.GetValue(address)!, Username = username, Password = password },
                ControlJsonContext.Default.SetEndpointRequest),
            ControlJsonContext.Default.UpstreamInfo,
            Views.Upstream);
    }

    /// <summary>A setting's command: its one argument goes in the PUT, and every setting comes back to be printed.</summary>
    private static Command Setting<T>(GlobalOptions globals, string name, string description, Argument<T> value, Func<T, ControlRequest> request)
        => new Command(name, description)
        {
            value,
        }.Calls(globals, parse => request(parse.GetValue(value)!), ControlJsonContext.Default.SettingsInfo, Views.Settings);
}
