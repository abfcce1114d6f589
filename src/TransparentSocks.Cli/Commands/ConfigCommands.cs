using System.CommandLine;
using TransparentSocks.Linux.Config;

namespace TransparentSocks.Cli.Commands;

/// <summary><c>config check|show</c>: work on the configuration file alone, without the daemon.</summary>
internal static class ConfigCommands
{
    public static Command Create()
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "Configuration file",
            DefaultValueFactory = _ => ConfigFile.DefaultPath,
        };

        var check = new Command("check", "Validate the configuration file; every error names its field.\n\nExample:\n  transparentsocks config check --config /etc/transparentsocks/config.json");
        check.Options.Add(configOption);
        check.SetAction(parse => Check(parse, parse.GetValue(configOption)!));

        var show = new Command("show", "Print the effective configuration with defaults filled in and secrets masked.\n\nExample:\n  transparentsocks config show");
        show.Options.Add(configOption);
        show.SetAction(parse => Show(parse, parse.GetValue(configOption)!));

        return new Command("config", "Work with the configuration file; the daemon is not involved.\n\nExample:\n  transparentsocks config check") { check, show };
    }

    private static int Check(ParseResult parse, string path)
    {
        var result = ConfigFile.Load(path);
        if (result.IsValid)
        {
            parse.InvocationConfiguration.Output.WriteLine($"{path}: valid");
            return ExitCodes.Ok;
        }

        var error = parse.InvocationConfiguration.Error;
        error.WriteLine($"{path}: invalid");
        foreach (var message in result.Errors)
        {
            error.WriteLine($"  {message}");
        }

        return ExitCodes.Usage;
    }

    private static int Show(ParseResult parse, string path)
    {
        var result = ConfigFile.Load(path);
        if (!result.IsValid)
        {
            return Check(parse, path);
        }

        parse.InvocationConfiguration.Output.WriteLine(result.Options.ToRedactedJson(indented: true));
        return ExitCodes.Ok;
    }
}
