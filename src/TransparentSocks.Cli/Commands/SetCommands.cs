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
        Timeout(globals),
        Pooling(globals),
        MaxPoolSize(globals),
        Verbose(globals),
    };

    private static Command Endpoint(GlobalOptions globals)
    {
        var address = new Argument<string>("HOST:PORT")
        {
            Description = "The upstream SOCKS5 proxy; write IPv6 addresses as [addr]:port",
            CustomParser = r => Parsers.Upstream(r, "endpoint"),
        };
        var credentials = new CredentialOptions("the upstream");
        var command = new Command("endpoint", """
            Set the default upstream SOCKS5 proxy, used by the server and by every interface without its own --proxy.

            Examples:
              transparentsocks set endpoint 127.0.0.1:1081
              transparentsocks set endpoint [fd00::1]:1080 --username gw --password-file /etc/transparentsocks/upstream.pass
            """)
        {
            address,
        };
        credentials.AddTo(command);
        command.SetAction((parse, ct) =>
        {
            if (!credentials.TryResolve(parse, parse.InvocationConfiguration.Error, out var username, out var password))
            {
                return Task.FromResult(ExitCodes.Usage);
            }

            var body = new SetEndpointRequest { Address = parse.GetValue(address)!, Username = username, Password = password };
            var request = ControlRequest.Put(ControlApi.Endpoint, body, ControlJsonContext.Default.SetEndpointRequest);
            return ControlCall.RunAsync(parse, globals, request, ControlJsonContext.Default.UpstreamInfo, Views.Upstream, json: false, ct);
        });
        return command;
    }

    private static Command Timeout(GlobalOptions globals)
    {
        var seconds = new Argument<double>("SECONDS")
        {
            Description = "Seconds without traffic before a session is closed (greater than 0, decimals allowed)",
            CustomParser = r => Parsers.PositiveSeconds(r, "the idle timeout"),
        };
        var command = new Command("timeout", """
            Set the idle timeout of new sessions, on the server and on every interface.

            Example:
              transparentsocks set timeout 600
            """)
        {
            seconds,
        };
        command.SetAction((parse, ct) => Settings(
            parse,
            globals,
            ControlRequest.Put(ControlApi.Timeout, new SetTimeoutRequest(parse.GetValue(seconds)), ControlJsonContext.Default.SetTimeoutRequest),
            ct));
        return command;
    }

    private static Command Pooling(GlobalOptions globals)
    {
        var enabled = Parsers.OnOffArgument("STATE", "pooling");
        var command = new Command("pooling", """
            Turn pooling of pre-authenticated upstream connections on or off.

            Example:
              transparentsocks set pooling on
            """)
        {
            enabled,
        };
        command.SetAction((parse, ct) => Settings(
            parse,
            globals,
            ControlRequest.Put(ControlApi.Pooling, new SetPoolingRequest(parse.GetValue(enabled)), ControlJsonContext.Default.SetPoolingRequest),
            ct));
        return command;
    }

    private static Command MaxPoolSize(GlobalOptions globals)
    {
        var size = new Argument<int>("N")
        {
            Description = "Idle pooled connections kept per upstream (0 or more)",
            CustomParser = r => Parsers.NonNegativeInt(r, "the pool size"),
        };
        var command = new Command("max-pool-size", """
            Set how many idle pre-authenticated connections are kept per upstream.

            Example:
              transparentsocks set max-pool-size 8
            """)
        {
            size,
        };
        command.SetAction((parse, ct) => Settings(
            parse,
            globals,
            ControlRequest.Put(ControlApi.MaxPoolSize, new SetMaxPoolSizeRequest(parse.GetValue(size)), ControlJsonContext.Default.SetMaxPoolSizeRequest),
            ct));
        return command;
    }

    private static Command Verbose(GlobalOptions globals)
    {
        var enabled = Parsers.OnOffArgument("STATE", "verbose");
        var command = new Command("verbose", """
            Turn debug logging on or off at once, without a restart.

            Example:
              transparentsocks set verbose on
            """)
        {
            enabled,
        };
        command.SetAction((parse, ct) => Settings(
            parse,
            globals,
            ControlRequest.Put(ControlApi.Verbose, new SetVerboseRequest(parse.GetValue(enabled)), ControlJsonContext.Default.SetVerboseRequest),
            ct));
        return command;
    }

    private static Task<int> Settings(ParseResult parse, GlobalOptions globals, ControlRequest request, CancellationToken ct)
        => ControlCall.RunAsync(parse, globals, request, ControlJsonContext.Default.SettingsInfo, Views.Settings, json: false, ct);
}
