using System.Text.Json;
using TransparentSocks.Linux.Processes;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Network;

/// <summary>
/// Applies rendered rulesets with <c>nft -f -</c>. nft loads a file as one transaction, so a failure leaves the
/// previous ruleset exactly as it was; the error carries nft's own message.
/// </summary>
internal static class NftClient
{
    public static async Task ApplyAsync(string script)
    {
        var result = await Command.RunAsync("nft", ["-f", "-"], stdin: script).ConfigureAwait(false);
        if (!result.Ok)
        {
            throw new NftException(result.Message);
        }
    }

    /// <summary>Asks the kernel whether it would take <paramref name="script"/> (<c>nft -c</c>); null when it would, nft's message when not.</summary>
    public static async Task<string?> CheckAsync(string script)
    {
        var result = await Command.RunAsync("nft", ["-c", "-f", "-"], stdin: script).ConfigureAwait(false);
        return result.Ok ? null : result.Message;
    }

    public static async Task<bool> TableExistsAsync()
        => (await Command.RunAsync("nft", ["list", "table", NftRuleset.Family, NftRuleset.Table]).ConfigureAwait(false)).Ok;

    /// <summary>Packets and bytes of every counter in our table, by counter name.</summary>
    public static async Task<IReadOnlyDictionary<string, (long Packets, long Bytes)>> ReadCountersAsync()
    {
        var result = await Command.RunAsync("nft", ["-j", "list", "counters", "table", NftRuleset.Family, NftRuleset.Table]).ConfigureAwait(false);
        var counters = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        if (!result.Ok)
        {
            return counters;
        }

        using var doc = JsonDocument.Parse(result.Output);
        if (doc.RootElement.TryGetProperty("nftables", out var items))
        {
            foreach (var item in items.EnumerateArray())
            {
                if (item.TryGetProperty("counter", out var counter)
                    && counter.TryGetProperty("name", out var name)
                    && counter.TryGetProperty("packets", out var packets)
                    && counter.TryGetProperty("bytes", out var bytes))
                {
                    counters[name.GetString()!] = (packets.GetInt64(), bytes.GetInt64());
                }
            }
        }

        return counters;
    }
}

public sealed class NftException : Exception
{
    public NftException(string message)
        : base($"nft refused the ruleset: {message}")
    {
    }
}
