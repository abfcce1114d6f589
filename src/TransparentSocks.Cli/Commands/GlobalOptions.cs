using System.CommandLine;
using TransparentSocks.Options;

namespace TransparentSocks.Cli.Commands;

/// <summary>Options every daemon command shares. One instance per command tree: an option belongs to the commands it is added to.</summary>
internal sealed class GlobalOptions
{
    public const string SocketVariable = "TRANSPARENTSOCKS_SOCKET";

    public Option<string> Socket { get; } = new("--socket")
    {
        Description = $"Control socket of transparentsocksd; ${SocketVariable} changes the default",
        HelpName = "PATH",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(SocketVariable) is { Length: > 0 } path
            ? path
            : ControlOptions.DefaultSocket,
    };
}
