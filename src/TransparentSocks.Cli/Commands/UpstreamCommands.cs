using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;
using TransparentSocks.Options;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// <c>upstream add|remove NAME</c> and <c>group set|remove NAME</c>: the named outbounds that <c>enable --upstream</c>
/// and <c>server start --outbound</c> refer to.
/// </summary>
internal static class UpstreamCommands
{
    public static Command Upstream(GlobalOptions globals) => new("upstream", """
        Add, replace or remove a named upstream proxy, which interfaces, the server and groups can then go through.

        Examples:
          transparentsocks upstream add vpn 10.8.0.1:1080
          transparentsocks upstream add office 192.0.2.10:3128 --protocol http --username gw --password-file /etc/transparentsocks/office.pass
          transparentsocks upstream remove vpn
        """)
    {
        Add(globals),
        Remove(globals, "upstream", ControlApi.UpstreamRemove, """
            Remove a named upstream. Refused, naming them, while a group, an interface or the server still uses it.
            Sessions already through it continue.

            Example:
              transparentsocks upstream remove vpn
            """),
    };

    public static Command Group(GlobalOptions globals) => new("group", """
        Define or remove a group: several upstreams (or groups) behind one name, with health checks and a policy.

        Examples:
          transparentsocks group set out --policy failover vpn office
          transparentsocks group set pool --policy round-robin a b c --interval 10 --target 198.51.100.7:443
          transparentsocks group remove pool
        """)
    {
        SetGroup(globals),
        Remove(globals, "group", ControlApi.GroupRemove, """
            Remove a group. Refused, naming them, while another group, an interface or the server still uses it.
            Sessions already through it continue.

            Example:
              transparentsocks group remove pool
            """),
    };

    private static Command Add(GlobalOptions globals)
    {
        var name = NameArgument("upstream", "The upstream's name: letters, digits, '.', '_' or '-'");
        var address = new Argument<string>("HOST:PORT")
        {
            Description = "The upstream proxy; write IPv6 addresses as [addr]:port",
            CustomParser = r => Parsers.Upstream(r, "upstream address"),
        };
        var protocol = ChoiceOption("--protocol", "How to talk to it", "PROTOCOL", OptionNames.ProtocolNames);
        return new Command("add", """
            Add a named upstream, or replace the protocol, address and credentials of the one with that name (its
            timeouts and pooling from the configuration file stay). Upstreams and groups share one set of names.

            Examples:
              transparentsocks upstream add vpn 10.8.0.1:1080
              transparentsocks upstream add office 192.0.2.10:3128 --protocol http --username gw --password-file /etc/transparentsocks/office.pass
            """)
        {
            name,
            address,
            protocol,
        }.CallsWithCredentials(
            globals,
            "this upstream",
            (parse, username, password) => ControlRequest.Post(
                ControlApi.UpstreamSet(parse.GetValue(name)!),
                new SetUpstreamRequest { Address = parse.GetValue(address)!, Protocol = parse.GetValue(protocol), Username = username, Password = password },
                ControlJsonContext.Default.SetUpstreamRequest),
            ControlJsonContext.Default.UpstreamInfo,
            Views.Upstream,
            "RFC 1929 for SOCKS5, Basic auth for HTTP");
    }

    private static Command SetGroup(GlobalOptions globals)
    {
        var name = NameArgument("group", "The group's name: letters, digits, '.', '_' or '-'");
        var members = new Argument<string[]>("MEMBER")
        {
            Description = "Upstreams or groups, in order (the order is the failover order); 'default' is the default upstream",
            Arity = ArgumentArity.OneOrMore,
            CustomParser = r => Parsers.References(r, "member"),
        };
        var policy = ChoiceOption("--policy", "How a new connection picks a member", "POLICY", OptionNames.PolicyNames);
        var interval = new Option<double?>("--interval")
        {
            Description = "Seconds between the checks of each member, 0.1 to 86400 (default: 5)",
            HelpName = "SECONDS",
            CustomParser = r => Parsers.Duration(r, "--interval", 0.1, Durations.MaxUdpSeconds),
        };
        var timeout = new Option<double?>("--timeout")
        {
            Description = "Seconds one check may take, 0.001 to 86400 (default: 3)",
            HelpName = "SECONDS",
            CustomParser = r => Parsers.Duration(r, "--timeout", Durations.MinSeconds, Durations.MaxUdpSeconds),
        };
        var failures = new Option<int?>("--failures")
        {
            Description = "Consecutive failures that mark a member down, 1 to 100 (default: 2)",
            HelpName = "N",
            CustomParser = r => Parsers.IntInRange(r, "--failures", 1, 100),
        };
        var successes = new Option<int?>("--successes")
        {
            Description = "Consecutive successful checks that bring a member back, 1 to 100 (default: 2)",
            HelpName = "N",
            CustomParser = r => Parsers.IntInRange(r, "--successes", 1, 100),
        };
        var target = new Option<string>("--target")
        {
            Description = "HOST:PORT each check CONNECTs to through the member (default: the check ends after the handshake)",
            HelpName = "HOST:PORT",
            CustomParser = r => Parsers.Upstream(r, "--target"),
        };
        return new Command("set", """
            Define a group, or replace the one with that name whole: what is not given takes its default. Members are
            named upstreams, 'default', or other groups; a group may not contain itself, directly or through others.

            Examples:
              transparentsocks group set out vpn office
              transparentsocks group set pool --policy least-connections a b c --failures 3 --successes 1
              transparentsocks group set web --policy hash a b --interval 10 --timeout 2 --target 198.51.100.7:443
            """)
        {
            name,
            members,
            policy,
            interval,
            timeout,
            failures,
            successes,
            target,
        }.Calls(
            globals,
            parse => ControlRequest.Post(
                ControlApi.GroupSet(parse.GetValue(name)!),
                new SetGroupRequest
                {
                    Policy = parse.GetValue(policy),
                    Members = parse.GetValue(members)!,
                    Interval = parse.GetValue(interval),
                    Timeout = parse.GetValue(timeout),
                    Failures = parse.GetValue(failures),
                    Successes = parse.GetValue(successes),
                    Target = parse.GetValue(target),
                },
                ControlJsonContext.Default.SetGroupRequest),
            ControlJsonContext.Default.UpstreamInfo,
            Views.Upstream);
    }

    private static Command Remove(GlobalOptions globals, string kind, Func<string, string> route, string description)
    {
        var name = NameArgument(kind, $"The {kind} to remove");
        return new Command("remove", description)
        {
            name,
        }.Calls(
            globals,
            parse => ControlRequest.Post(route(parse.GetValue(name)!)),
            ControlJsonContext.Default.MessageResponse,
            Views.Message);
    }

    private static Argument<string> NameArgument(string kind, string description) => new("NAME")
    {
        Description = description,
        CustomParser = r => Parsers.DefinedName(r, kind),
    };

    private static Option<string> ChoiceOption(string name, string description, string helpName, IReadOnlyList<string> names)
    {
        var option = new Option<string>(name)
        {
            // The first name is the config file's default for both protocols and policies.
            Description = $"{description}: {string.Join(", ", names)} (default: {names[0]})",
            HelpName = helpName,
            CustomParser = r => Parsers.Choice(r, name, names),
        };
        option.CompletionSources.Add([.. names]);
        return option;
    }
}
