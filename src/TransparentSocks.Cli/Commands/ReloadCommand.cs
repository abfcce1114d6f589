using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

internal static class ReloadCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var command = new Command("reload", """
            Make the daemon re-read its configuration file, like SIGHUP. Check it first with 'config check'.

            Example:
              transparentsocks config check && transparentsocks reload
            """);
        command.SetAction((parse, ct) => ControlCall.RunAsync(
            parse,
            globals,
            ControlRequest.Post(ControlApi.Reload),
            ControlJsonContext.Default.MessageResponse,
            Views.Message,
            json: false,
            ct));
        return command;
    }
}
