using System.Globalization;
using TransparentSocks.Linux.Processes;

namespace TransparentSocks.Daemon.Network;

/// <summary>
/// The routes TPROXY needs: packets carrying the divert mark are looked up in a table whose only route says
/// "every address is local", so the kernel delivers them to our listener instead of forwarding them.
/// Install removes leftovers first, so a restart after a crash never duplicates the rule.
/// </summary>
internal static class PolicyRouting
{
    private const int MaxStaleRules = 16;

    public static async Task InstallAsync(uint fwmark, int table, int priority, bool ipv6)
    {
        await RemoveAsync(fwmark, table, priority).ConfigureAwait(false);
        await RunOrThrowAsync(["-4", "rule", "add", .. RuleArgs(fwmark, table, priority)]).ConfigureAwait(false);
        await RunOrThrowAsync(["-4", "route", "replace", "local", "0.0.0.0/0", "dev", "lo", "table", Table(table)]).ConfigureAwait(false);
        if (ipv6)
        {
            await RunOrThrowAsync(["-6", "rule", "add", .. RuleArgs(fwmark, table, priority)]).ConfigureAwait(false);
            await RunOrThrowAsync(["-6", "route", "replace", "local", "::/0", "dev", "lo", "table", Table(table)]).ConfigureAwait(false);
        }
    }

    /// <summary>Removes our rules and routes in both families; absent ones are not an error.</summary>
    public static async Task RemoveAsync(uint fwmark, int table, int priority)
    {
        foreach (var family in new[] { "-4", "-6" })
        {
            for (var i = 0; i < MaxStaleRules; i++)
            {
                var result = await Command.RunAsync("ip", [family, "rule", "del", .. RuleArgs(fwmark, table, priority)]).ConfigureAwait(false);
                if (!result.Ok)
                {
                    break;
                }
            }

            await Command.RunAsync("ip", [family, "route", "flush", "table", Table(table)]).ConfigureAwait(false);
        }
    }

    private static string[] RuleArgs(uint fwmark, int table, int priority)
        => ["fwmark", $"0x{fwmark.ToString("x", CultureInfo.InvariantCulture)}", "lookup", Table(table), "priority", priority.ToString(CultureInfo.InvariantCulture)];

    private static string Table(int table) => table.ToString(CultureInfo.InvariantCulture);

    private static async Task RunOrThrowAsync(string[] args)
    {
        var result = await Command.RunAsync("ip", args).ConfigureAwait(false);
        if (!result.Ok)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)}: {result.Message}");
        }
    }
}
