using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

/// <summary><c>enable IFACE</c> and <c>disable IFACE</c>: divert an interface's forwarded TCP, or stop diverting it.</summary>
internal static class InterfaceCommands
{
    public static Command Enable(GlobalOptions globals)
    {
        var name = Parsers.InterfaceArgument("The interface whose forwarded TCP is diverted");
        var proxy = new Option<string>("--proxy")
        {
            Description = "HOST:PORT of this interface's own upstream SOCKS5 proxy (default: the endpoint from 'set endpoint')",
            HelpName = "HOST:PORT",
            CustomParser = r => Parsers.Upstream(r, "--proxy"),
        };
        var maxConnections = new Option<int?>("--max-connections")
        {
            Description = "Concurrent connections allowed from this interface; 0 means unlimited (default: unchanged, 0 when new)",
            HelpName = "N",
            CustomParser = r => Parsers.NonNegativeInt(r, "--max-connections"),
        };
        return new Command("enable", """
            Divert the TCP forwarded in through an interface to the upstream SOCKS5 proxy. Enabling an enabled interface
            updates it.

            Examples:
              transparentsocks enable eth1
              transparentsocks enable wg0 --proxy 10.8.0.1:1080 --max-connections 200
              transparentsocks enable eth2 --proxy 192.0.2.10:1080 --username gw --password-file /etc/transparentsocks/eth2.pass
            """)
        {
            name,
            proxy,
            maxConnections,
        }.CallsWithCredentials(
            globals,
            "this interface's upstream",
            (parse, username, password) => ControlRequest.Post(
                ControlApi.InterfaceEnable(parse.GetValue(name)!),
                new EnableInterfaceRequest
                {
                    Proxy = parse.GetValue(proxy),
                    Username = username,
                    Password = password,
                    MaxConnections = parse.GetValue(maxConnections),
                },
                ControlJsonContext.Default.EnableInterfaceRequest),
            ControlJsonContext.Default.InterfaceInfo,
            Views.Interface);
    }

    public static Command Disable(GlobalOptions globals)
    {
        var name = Parsers.InterfaceArgument("The enabled interface to stop diverting");
        return new Command("disable", """
            Stop diverting an interface. Sessions already running continue until they end.

            Example:
              transparentsocks disable eth1
            """)
        {
            name,
        }.Calls(
            globals,
            parse => ControlRequest.Post(ControlApi.InterfaceDisable(parse.GetValue(name)!)),
            ControlJsonContext.Default.MessageResponse,
            Views.Message);
    }
}
