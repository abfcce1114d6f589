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
        var upstream = Parsers.ReferenceOption(
            "--upstream", "A named upstream or group to go through instead of a proxy of its own ('default' for the endpoint from 'set endpoint')", allowDirect: false);
        var maxConnections = new Option<int?>("--max-connections")
        {
            Description = "Concurrent connections allowed from this interface; 0 means unlimited (default: unchanged, 0 when new)",
            HelpName = "N",
            CustomParser = r => Parsers.NonNegativeInt(r, "--max-connections"),
        };
        var command = new Command("enable", """
            Divert the TCP forwarded in through an interface to the upstream SOCKS5 proxy. Enabling an enabled interface
            updates it; without --proxy or --upstream it keeps the upstream it has.

            Examples:
              transparentsocks enable eth1
              transparentsocks enable wg0 --proxy 10.8.0.1:1080 --max-connections 200
              transparentsocks enable eth2 --proxy 192.0.2.10:1080 --username gw --password-file /etc/transparentsocks/eth2.pass
              transparentsocks enable eth3 --upstream pool
            """)
        {
            name,
            proxy,
            upstream,
            maxConnections,
        };
        command.Validators.Add(result =>
        {
            if (result.GetResult(upstream) is null)
            {
                return;
            }

            if (result.GetResult(proxy) is not null)
            {
                result.AddError("--upstream and --proxy are mutually exclusive: an interface goes through one or the other");
            }
            else if (result.Command.Options.Any(o => o.Name is "--username" or "--password-file" or "--password" && result.GetResult(o) is not null))
            {
                result.AddError("--username and the password belong to the named upstream ('upstream add'), not to the interface");
            }
        });
        return command.CallsWithCredentials(
            globals,
            "this interface's upstream",
            (parse, username, password) => ControlRequest.Post(
                ControlApi.InterfaceEnable(parse.GetValue(name)!),
                new EnableInterfaceRequest
                {
                    Proxy = parse.GetValue(proxy),
                    Upstream = parse.GetValue(upstream),
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
