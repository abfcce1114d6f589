using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using TransparentSocks.Cli.Commands;
using TransparentSocks.Cli.Doctor;

namespace TransparentSocks.Cli;

/// <summary>The command tree, and the one place where a parse error becomes exit code 2.</summary>
internal static class CliApp
{
    public static RootCommand Build()
    {
        var globals = new GlobalOptions();
        var root = new RootCommand($"""
            TransparentSocks: transparent proxy and SOCKS5 server for Linux gateways. Every command except 'config'
            and 'completion' talks to the running transparentsocksd over its control socket.

            Examples:
              transparentsocks show
              transparentsocks enable eth1 --proxy 10.0.0.2:1080
              transparentsocks upstream add vpn 10.8.0.1:1080
              transparentsocks --socket /tmp/ts.sock show sessions --limit 10

            {ExitCodes.HelpText}
            """)
        {
            globals.Socket,
            ShowCommands.Create(globals),
            SetCommands.Create(globals),
            InterfaceCommands.Enable(globals),
            InterfaceCommands.Disable(globals),
            ServerCommands.Create(globals),
            UpstreamCommands.Upstream(globals),
            UpstreamCommands.Group(globals),
            ReloadCommand.Create(globals),
            DoctorCommand.Create(globals),
            ConfigCommands.Create(),
            CompletionCommand.Create(),
        };
        ShortenHelp(root);
        return root;
    }

    public static async Task<int> InvokeAsync(
        string[] args,
        TextWriter? output = null,
        TextWriter? error = null,
        CancellationToken cancellationToken = default)
    {
        var configuration = new InvocationConfiguration();
        if (output is not null)
        {
            configuration.Output = output;
        }

        if (error is not null)
        {
            configuration.Error = error;
        }

        var parse = Build().Parse(args);
        if (parse.Action is not ParseErrorAction parseError)
        {
            return await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }

        // The full help would bury the one line that says what was wrong; point at it instead.
        parseError.ShowHelp = false;
        await parse.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        configuration.Error.WriteLine($"Run '{CommandPath(parse.CommandResult)} --help' for usage.");
        return ExitCodes.Usage;
    }

    /// <summary>
    /// Help lists subcommands by the first paragraph of their description only, so each example shows once, in its own
    /// command's help. The aliases -?, /? and /h go too: they only clutter shell completion.
    /// </summary>
    private static void ShortenHelp(RootCommand root)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        help.Aliases.Remove("-?");
        help.Aliases.Remove("/?");
        help.Aliases.Remove("/h");
        help.Action = new SummarisedHelp((HelpAction)help.Action!);
    }

    /// <summary>
    /// System.CommandLine 2.0 keeps HelpBuilder's customisation internal, so the subcommands' descriptions are swapped
    /// for their summaries while the stock help is written, and put back afterwards.
    /// </summary>
    private sealed class SummarisedHelp(HelpAction stock) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var subcommands = parseResult.CommandResult.Command.Subcommands;
            var full = subcommands.Select(c => c.Description).ToArray();
            try
            {
                foreach (var command in subcommands)
                {
                    command.Description = command.Description?.Split("\n\n", 2)[0].ReplaceLineEndings(" ");
                }

                return stock.Invoke(parseResult);
            }
            finally
            {
                for (var i = 0; i < full.Length; i++)
                {
                    subcommands[i].Description = full[i];
                }
            }
        }
    }

    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? current = command; current is not null; current = current.Parent)
        {
            if (current is CommandResult c)
            {
                names.Add(c.Command is RootCommand ? "transparentsocks" : c.Command.Name);
            }
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}
