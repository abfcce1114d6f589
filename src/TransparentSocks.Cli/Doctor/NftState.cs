using System.Text.Json;
using TransparentSocks.Nft;

namespace TransparentSocks.Cli.Doctor;

/// <summary>What nftables can do here and what other tables already do, read through <c>nft</c> itself.</summary>
internal static class NftState
{
    /// <summary>The daemon's own tproxy probe, checked by nft without being committed (<c>nft -c</c>).</summary>
    public static async Task<CheckResult> CheckTproxyAsync()
    {
        var result = await Tools.RunAsync("nft", ["-c", "-f", "-"], NftRuleset.RenderTproxyProbe(ipv6: true)).ConfigureAwait(false);
        return result switch
        {
            null => new(CheckStatus.Fail, "nft-tproxy", "nft is not installed: apt install nftables"),
            { ExitCode: 0 } => new(CheckStatus.Ok, "nft-tproxy", "nftables accepts tproxy rules for IPv4 and IPv6"),
            { Text: var text } when text.Contains("Operation not permitted", StringComparison.Ordinal)
                => new(CheckStatus.Fail, "nft-tproxy", "nft needs CAP_NET_ADMIN: run the doctor as root"),
            { Text: var text } => new(CheckStatus.Fail, "nft-tproxy", $"nft refuses a tproxy rule (kernel without nft_tproxy? modprobe nft_tproxy): {FirstLine(text)}"),
        };
    }

    /// <summary>Other tables whose tproxy or redirect rules send to our port would steal or mix connections.</summary>
    public static async Task<CheckResult> CheckConflictsAsync(Target target)
    {
        const string name = "nft-conflicts";
        var result = await Tools.RunAsync("nft", ["-j", "list", "ruleset"]).ConfigureAwait(false);
        if (result is not { ExitCode: 0 } listed)
        {
            return new(CheckStatus.Skip, name, "cannot list the ruleset (run as root)");
        }

        var samePort = new SortedSet<string>(StringComparer.Ordinal);
        var other = new SortedSet<string>(StringComparer.Ordinal);
        using (var doc = JsonDocument.Parse(listed.Text))
        {
            if (doc.RootElement.TryGetProperty("nftables", out var items))
            {
                foreach (var item in items.EnumerateArray())
                {
                    if (!item.TryGetProperty("rule", out var rule)
                        || !rule.TryGetProperty("table", out var tableName)
                        || !rule.TryGetProperty("family", out var family))
                    {
                        continue;
                    }

                    var table = $"{family.GetString()} {tableName.GetString()}";
                    if (table == NftRuleset.QualifiedTable || !rule.TryGetProperty("expr", out var expr))
                    {
                        continue;
                    }

                    foreach (var port in DivertPorts(expr))
                    {
                        (port == target.Port ? samePort : other).Add(table);
                    }
                }
            }
        }

        if (samePort.Count > 0)
        {
            return new(CheckStatus.Fail, name, $"{string.Join(", ", samePort)} also divert to port {target.Port}: connections would reach our listener with the wrong mark or bypass our rules (nft list table ...)");
        }

        return other.Count > 0
            ? new(CheckStatus.Warn, name, $"{string.Join(", ", other)} divert with tproxy/redirect too: traffic they catch first never reaches ours")
            : new(CheckStatus.Ok, name, "no other table diverts with tproxy or redirect");
    }

    /// <summary>The ports of every tproxy/redirect statement in a rule's expression list (0 when none is given).</summary>
    private static IEnumerable<int> DivertPorts(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var child in element.EnumerateArray())
            {
                foreach (var port in DivertPorts(child))
                {
                    yield return port;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "tproxy" or "redirect")
                {
                    yield return property.Value.ValueKind == JsonValueKind.Object
                        && property.Value.TryGetProperty("port", out var port) && port.ValueKind == JsonValueKind.Number
                        ? port.GetInt32()
                        : 0;
                }
                else
                {
                    foreach (var nested in DivertPorts(property.Value))
                    {
                        yield return nested;
                    }
                }
            }
        }
    }

    private static string FirstLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
}
