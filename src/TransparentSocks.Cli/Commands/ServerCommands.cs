using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

/// <summary><c>server start ADDR:PORT</c> and <c>server stop</c>: the daemon's own SOCKS5 server.</summary>
internal static class ServerCommands
{
    public static Command Create(GlobalOptions globals) => new("server", """
        Start or stop the SOCKS5 server of the running daemon.

        Examples:
          transparentsocks server start 127.0.0.1:1080
          transparentsocks server stop
        """)
    {
        Start(globals),
        Stop(globals),
    };

    private static Command Start(GlobalOptions globals)
    {
        var listen = new Argument<string>("ADDR:PORT")
        {
            Description = "IP address and port to listen on; write IPv6 addresses as [addr]:port",
            CustomParser = r => Parsers.Listen(r, "listen address"),
        };
        var credentials = new CredentialOptions("clients of the server");
        var command = new Command("start", """
            Start the SOCKS5 server, or restart it on a new address. Without --username it requires no authentication,
            which the daemon refuses on a non-loopback address unless the configuration allows it.

            Examples:
              transparentsocks server start 127.0.0.1:1080
              transparentsocks server start 0.0.0.0:1080 --username alice --password-file /etc/transparentsocks/alice.pass
            """)
        {
            listen,
        };
        credentials.AddTo(command);
        command.SetAction((parse, ct) =>
        {
            if (!credentials.TryResolve(parse, parse.InvocationConfiguration.Error, out var username, out var password))
            {
                return Task.FromResult(ExitCodes.Usage);
            }

            var body = new ServerStartRequest { Listen = parse.GetValue(listen)!, Username = username, Password = password };
            var request = ControlRequest.Post(ControlApi.ServerStart, body, ControlJsonContext.Default.ServerStartRequest);
            return ControlCall.RunAsync(parse, globals, request, ControlJsonContext.Default.ServerInfo, Views.Server, json: false, ct);
        });
        return command;
    }

    private static Command Stop(GlobalOptions globals)
    {
        var command = new Command("stop", """
            Stop the SOCKS5 server's listener. Sessions in flight continue.

            Example:
              transparentsocks server stop
            """);
        command.SetAction((parse, ct) => ControlCall.RunAsync(
            parse,
            globals,
            ControlRequest.Post(ControlApi.ServerStop),
            ControlJsonContext.Default.ServerInfo,
            Views.Server,
            json: false,
            ct));
        return command;
    }
}
