using TransparentSocks.Daemon.Network;
using TransparentSocks.Linux.Config;
using TransparentSocks.Linux.Processes;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Systemd;

/// <summary>
/// <c>transparentsocksd --cleanup</c>, the unit's ExecStopPost: after a crash or SIGKILL the daemon never ran its own
/// stop, and its table would keep diverting into a port nobody listens on. Done in the daemon rather than a shell
/// snippet so the fwmark, table and priority come from the same config, with the same defaults.
/// </summary>
internal static class Cleanup
{
    public static async Task<int> RunAsync(string configPath)
    {
        var config = ConfigFile.Load(configPath);

        // An unreadable or broken config must not leave rules behind: fall back to the defaults it would have had.
        var transparent = config.IsValid ? config.Options.Transparent : new TransparentOptions();
        if (!config.IsValid)
        {
            Console.Error.WriteLine($"transparentsocksd: {configPath} is invalid; cleaning up with the default fwmark, table and priority");
        }

        var failed = false;
        if (await NftClient.TableExistsAsync().ConfigureAwait(false))
        {
            var result = await Command.RunAsync("nft", ["delete", "table", NftRuleset.Family, NftRuleset.Table]).ConfigureAwait(false);
            if (result.Ok)
            {
                Console.WriteLine($"transparentsocksd: removed nft table {NftRuleset.QualifiedTable}");
            }
            else
            {
                Console.Error.WriteLine($"transparentsocksd: cannot remove nft table {NftRuleset.QualifiedTable}: {result.Message}");
                failed = true;
            }
        }

        await PolicyRouting.RemoveAsync(transparent.Fwmark, transparent.RouteTable, transparent.RulePriority).ConfigureAwait(false);
        return failed ? 1 : 0;
    }
}
