using System.Globalization;
using TransparentSocks.Options;

namespace TransparentSocks.Cli.Doctor;

/// <summary>
/// The two things TPROXY needs besides nft: a rule sending the divert mark to our table, and that table's one
/// route saying every address is local. Missing ones matter only while the daemon diverts; otherwise they are leftovers.
/// </summary>
internal static class PolicyRoutingCheck
{
    public static async Task<CheckResult> CheckAsync(Target target)
    {
        const string name = "policy-routing";
        if (target.Mode != TransparentMode.Tproxy)
        {
            return new(CheckStatus.Skip, name, "redirect mode needs no policy routing");
        }

        var mark = $"0x{target.Fwmark.ToString("x", CultureInfo.InvariantCulture)}";
        var table = target.RouteTable.ToString(CultureInfo.InvariantCulture);
        var missing = new List<string>();
        var present = new List<string>();
        foreach (var family in target.Ipv6 ? new[] { "-4", "-6" } : ["-4"])
        {
            var rules = await Tools.RunAsync("ip", [family, "rule", "show"]).ConfigureAwait(false);
            if (rules is not { } ruleList)
            {
                return new(CheckStatus.Fail, name, "ip is not installed: apt install iproute2");
            }

            var routes = await Tools.RunAsync("ip", [family, "route", "show", "table", table]).ConfigureAwait(false);
            var hasRule = ruleList.Text.Contains($"fwmark {mark} lookup {table}", StringComparison.Ordinal);
            var hasRoute = routes is { ExitCode: 0 } routeList && routeList.Text.Split('\n').Any(l => l.StartsWith("local default", StringComparison.Ordinal) || l.StartsWith("local 0.0.0.0/0", StringComparison.Ordinal) || l.StartsWith("local ::/0", StringComparison.Ordinal));
            (hasRule ? present : missing).Add($"ip {family} rule fwmark {mark} lookup {table}");
            (hasRoute ? present : missing).Add($"ip {family} route local default dev lo table {table}");
        }

        var divertsNow = target.DaemonRunning && target.TransparentEnabled && target.Interfaces.Count > 0;
        if (divertsNow)
        {
            return missing.Count == 0
                ? new(CheckStatus.Ok, name, $"fwmark {mark} → table {table} → local, for {(target.Ipv6 ? "IPv4 and IPv6" : "IPv4")}")
                : new(CheckStatus.Fail, name, $"the daemon diverts but these are missing, so diverted packets are forwarded instead of delivered: {string.Join("; ", missing)} (transparentsocks reload puts them back)");
        }

        return present.Count == 0
            ? new(CheckStatus.Ok, name, "nothing diverts now and no rules are installed; the daemon adds them when an interface is enabled")
            : new(CheckStatus.Warn, name, $"leftovers while nothing diverts: {string.Join("; ", present)} (transparentsocksd --cleanup removes them)");
    }
}
