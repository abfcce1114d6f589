using System.CommandLine;
using TransparentSocks.Cli.Commands;
using TransparentSocks.Linux.Config;

namespace TransparentSocks.Cli.Doctor;

/// <summary>
/// <c>transparentsocks doctor</c>: checks what would stop the transparent path from working and says how to fix it,
/// one line per check. Any FAIL makes the exit code 1; warnings do not.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "Configuration file, read for the interfaces and the upstream credentials",
            DefaultValueFactory = _ => ConfigFile.DefaultPath,
        };
        var command = new Command("doctor", """
            Check what would stop the transparent path from working: nftables with tproxy, IP forwarding, rp_filter on
            the enabled interfaces, policy routing, conflicting nft tables, the open-file limit, and whether each
            upstream is reachable and accepts our credentials. Asks the running daemon when there is one, else reads
            the configuration. Exit code 0 when nothing failed, 1 otherwise. Run it as root.

            Example:
              transparentsocks doctor
            """)
        {
            configOption,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var results = await RunAsync(parse.GetValue(configOption)!, parse.GetValue(globals.Socket)!, ct).ConfigureAwait(false);
            foreach (var result in results)
            {
                output.WriteLine(result.ToString());
            }

            var failed = results.Count(r => r.Status == CheckStatus.Fail);
            output.WriteLine(failed == 0 ? "doctor: no problems found" : $"doctor: {failed} check(s) failed");
            return failed == 0 ? ExitCodes.Ok : ExitCodes.DaemonError;
        });
        return command;
    }

    public static async Task<IReadOnlyList<CheckResult>> RunAsync(string configPath, string socket, CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>();
        var (target, source) = await Target.DescribeAsync(configPath, socket, cancellationToken).ConfigureAwait(false);
        results.Add(source);
        results.Add(await NftState.CheckTproxyAsync().ConfigureAwait(false));
        results.AddRange(SysctlChecks.CheckForwarding(target));
        results.AddRange(SysctlChecks.CheckInterfaces(target));
        results.Add(await PolicyRoutingCheck.CheckAsync(target).ConfigureAwait(false));
        results.Add(await NftState.CheckConflictsAsync(target).ConfigureAwait(false));
        results.Add(ProcScan.CheckOpenFiles());
        foreach (var upstream in target.Upstreams)
        {
            results.Add(await UpstreamProbe.CheckAsync(upstream.Name, upstream.Endpoint, upstream.Username, upstream.Password, cancellationToken).ConfigureAwait(false));
        }

        if (target.Upstreams.Count == 0)
        {
            results.Add(target.TransparentEnabled && target.Interfaces.Count > 0
                ? new(CheckStatus.Fail, "upstream", "no upstream is configured for the enabled interfaces: transparentsocks set endpoint HOST:PORT")
                : new(CheckStatus.Skip, "upstream", "no upstream configured"));
        }

        return results;
    }
}
