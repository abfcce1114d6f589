using System.CommandLine;
using System.Globalization;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// <c>show [IFACE]</c> and its subcommands. A subcommand name wins over an interface name, so an interface called
/// "server" is shown with <c>show interface server</c>.
/// </summary>
internal static class ShowCommands
{
    public static Command Create(GlobalOptions globals)
    {
        var json = new Option<bool>("--json")
        {
            Description = "Print the daemon's JSON answer as received, indented, instead of text",
            Recursive = true,
        };
        var name = new Argument<string?>("IFACE")
        {
            Description = "Show this enabled interface instead of the whole status",
            Arity = ArgumentArity.ZeroOrOne,
            CustomParser = Parsers.InterfaceName,
        };
        var show = new Command("show", """
            Show the daemon's status: settings, upstream, server and every enabled interface; or one interface.

            Examples:
              transparentsocks show
              transparentsocks show eth1
              transparentsocks show --json
            """)
        {
            name,
            json,
            Interface(globals, json),
            new Command("server", """
                Show the SOCKS5 server: listener, authentication, counters and connect failures by reason.

                Example:
                  transparentsocks show server
                """).Calls(globals, _ => ControlRequest.Get(ControlApi.Server), ControlJsonContext.Default.ServerInfo, Views.Server, json),
            Sessions(globals, json),
            new Command("upstreams", """
                List the upstream SOCKS5 proxies: the default one and every interface's own, with who uses them.

                Example:
                  transparentsocks show upstreams
                """).Calls(globals, _ => ControlRequest.Get(ControlApi.Upstreams), ControlJsonContext.Default.UpstreamsResponse, Views.Upstreams, json),
        };
        var status = ControlCall.Handler(globals, _ => ControlRequest.Get(ControlApi.Status), ControlJsonContext.Default.StatusResponse, Views.Status, json);
        var one = ShowInterface(globals, json, parse => parse.GetValue(name));
        show.SetAction((parse, ct) => parse.GetValue(name) is null ? status(parse, ct) : one(parse, ct));
        return show;
    }

    private static Command Interface(GlobalOptions globals, Option<bool> json)
    {
        var name = Parsers.InterfaceArgument("The enabled interface");
        var command = new Command("interface", """
            Show one enabled interface; the way to reach an interface named like a subcommand of show.

            Examples:
              transparentsocks show interface eth1
              transparentsocks show interface server
            """)
        {
            name,
        };
        command.SetAction(ShowInterface(globals, json, parse => parse.GetValue(name)));
        return command;
    }

    private static Command Sessions(GlobalOptions globals, Option<bool> json)
    {
        var iface = new Option<string>("--iface")
        {
            Description = "Only sessions that came in through this interface ('server' for the SOCKS5 server's)",
            HelpName = "IFACE",
            CustomParser = Parsers.InterfaceName,
        };
        var limit = new Option<int?>("--limit")
        {
            Description = "Show at most N sessions (1 or more)",
            HelpName = "N",
            CustomParser = r => Parsers.PositiveInt(r, "--limit"),
        };
        return new Command("sessions", """
            List open sessions, oldest first.

            Examples:
              transparentsocks show sessions
              transparentsocks show sessions --iface eth1 --limit 20
            """)
        {
            iface,
            limit,
        }.Calls(
            globals,
            parse => ControlRequest.Get(SessionsPath(parse.GetValue(iface), parse.GetValue(limit))),
            ControlJsonContext.Default.SessionsResponse,
            Views.Sessions,
            json);
    }

    private static Func<ParseResult, CancellationToken, Task<int>> ShowInterface(
        GlobalOptions globals,
        Option<bool> json,
        Func<ParseResult, string?> name)
        => ControlCall.Handler(
            globals,
            parse => ControlRequest.Get(ControlApi.Interface(name(parse)!)),
            ControlJsonContext.Default.InterfaceInfo,
            Views.Interface,
            json);

    internal static string SessionsPath(string? iface, int? limit)
    {
        var query = new List<string>(2);
        if (iface is not null)
        {
            query.Add("iface=" + Uri.EscapeDataString(iface));
        }

        if (limit is { } n)
        {
            query.Add("limit=" + n.ToString(CultureInfo.InvariantCulture));
        }

        return query.Count == 0 ? ControlApi.Sessions : $"{ControlApi.Sessions}?{string.Join('&', query)}";
    }
}
