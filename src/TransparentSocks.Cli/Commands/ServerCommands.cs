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
        new Command("stop", """
            Stop the SOCKS5 server's listener. Sessions in flight continue.

            Example:
              transparentsocks server stop
            """).Calls(globals, _ => ControlRequest.Post(ControlApi.ServerStop), ControlJsonContext.Default.ServerInfo, Views.Server),
    };

    private static Command Start(GlobalOptions globals)
    {
        var listen = new Argument<string>("ADDR:PORT")
        {
            Description = "IP address and port to listen on; write IPv6 addresses as [addr]:port",
            CustomParser = r => Parsers.Listen(r, "listen address"),
        };
        var outbound = Parsers.ReferenceOption(
            "--outbound", "Where accepted connections go: direct, upstream (the default one), or a named upstream or group (default: unchanged)", allowDirect: true);
        return new Command("start", """
            Start the SOCKS5 server, or restart it on a new address. Without --username it requires no authentication,
            which the daemon refuses on a non-loopback address unless the configuration allows it.

            Examples:
              transparentsocks server start 127.0.0.1:1080
              transparentsocks server start 0.0.0.0:1080 --username alice --password-file /etc/transparentsocks/alice.pass
              transparentsocks server start 127.0.0.1:1080 --outbound pool
            """)
        {
            listen,
            outbound,
        }.CallsWithCredentials(
            globals,
            "clients of the server",
            (parse, username, password) => ControlRequest.Post(
                ControlApi.ServerStart,
                new ServerStartRequest { Listen = parse.GetValue(listen)!, Username = username, Password = password, Outbound = parse.GetValue(outbound) },
                ControlJsonContext.Default.ServerStartRequest),
            ControlJsonContext.Default.ServerInfo,
            Views.Server);
    }
}
