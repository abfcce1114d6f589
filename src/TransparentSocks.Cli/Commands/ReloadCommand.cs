using System.CommandLine;
using TransparentSocks.Cli.Rendering;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Commands;

internal static class ReloadCommand
{
    public static Command Create(GlobalOptions globals) => new Command("reload", """
        Make the daemon re-read its configuration file, like SIGHUP. Check it first with 'config check'.

        Example:
          transparentsocks config check && transparentsocks reload
        """).Calls(globals, _ => ControlRequest.Post(ControlApi.Reload), ControlJsonContext.Default.MessageResponse, Views.Message);
}
