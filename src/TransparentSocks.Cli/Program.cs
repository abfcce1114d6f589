using System.CommandLine;
using TransparentSocks.Options;

namespace TransparentSocks.Cli;

/// <summary>
/// The operator's command line. This first version works on the configuration file alone; the commands that drive
/// a running daemon (enable, server start, show …) arrive with the control socket.
/// </summary>
internal static class Program
{
    private const int ExitOk = 0;
    private const int ExitInvalidConfig = 2;

    public static int Main(string[] args)
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "Configuration file",
            DefaultValueFactory = _ => ConfigLoader.DefaultPath,
        };

        var check = new Command("check", "Validate the configuration file; every error names its field.\n\nExample:\n  transparentsocks config check --config /etc/transparentsocks/config.json");
        check.Options.Add(configOption);
        check.SetAction(parse => Check(parse.GetValue(configOption)!));

        var show = new Command("show", "Print the effective configuration with defaults filled in and secrets masked.\n\nExample:\n  transparentsocks config show");
        show.Options.Add(configOption);
        show.SetAction(parse => Show(parse.GetValue(configOption)!));

        var config = new Command("config", "Work with the configuration file") { check, show };
        var root = new RootCommand("TransparentSocks: transparent proxy and SOCKS5 server for Linux gateways") { config };
        return root.Parse(args).Invoke();
    }

    private static int Check(string path)
    {
        var result = ConfigLoader.Load(path);
        if (result.IsValid)
        {
            Console.WriteLine($"{path}: valid");
            return ExitOk;
        }

        Console.Error.WriteLine($"{path}: invalid");
        foreach (var error in result.Errors)
        {
            Console.Error.WriteLine($"  {error}");
        }

        return ExitInvalidConfig;
    }

    private static int Show(string path)
    {
        var result = ConfigLoader.Load(path);
        if (!result.IsValid)
        {
            return Check(path);
        }

        Console.WriteLine(result.Options.ToRedactedJson(indented: true));
        return ExitOk;
    }
}
