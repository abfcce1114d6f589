using System.Globalization;
using System.Net;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>Config text and kernel-state probes shared by the transparent-path tests.</summary>
internal static class TransparentLab
{
    public const int DivertPort = 12345;
    public const string Table = "inet transparentsocks";

    public static string Config(
        GatewayLab lab,
        IPEndPoint upstream,
        string mode = "tproxy",
        bool enabled = true,
        string? interfaces = null,
        string bypass = "[]",
        string upstreamExtra = "")
    {
        interfaces ??= $$"""[ { "name": "{{lab.ClientInterface}}" } ]""";
        return $$"""
            {
              "upstream": { "address": "{{Format(upstream)}}", "connectTimeout": 2 {{upstreamExtra}} },
              "transparent": { "enabled": {{(enabled ? "true" : "false")}}, "mode": "{{mode}}", "port": {{DivertPort}},
                               "bypass": {{bypass}}, "interfaces": {{interfaces}} },
              "logging": { "level": "debug" }
            }
            """;
    }

    public static string Format(IPEndPoint endPoint)
        => endPoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]:{endPoint.Port}" : endPoint.ToString();

    public static async Task<string> NftAsync(NetworkNamespace ns, params string[] args)
        => (await ns.ExecOrThrowAsync("nft", args)).Output;

    public static async Task<string> IpAsync(NetworkNamespace ns, params string[] args)
        => (await ns.ExecOrThrowAsync("ip", args)).Output;

    public static async Task<(long Packets, long Bytes)> CounterAsync(NetworkNamespace ns, string iface)
    {
        var text = await NftAsync(ns, "list", "counters", "table", "inet", "transparentsocks");
        var name = Nft.NftRuleset.CounterName(iface);
        var at = text.IndexOf($"counter {name} ", StringComparison.Ordinal);
        Assert.True(at >= 0, text);
        var line = text[at..].Split('\n')[1].Trim();
        var parts = line.Split(' ');
        return (long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[3], CultureInfo.InvariantCulture));
    }

    public static int Count(string haystack, string needle)
    {
        var count = 0;
        for (var at = haystack.IndexOf(needle, StringComparison.Ordinal); at >= 0; at = haystack.IndexOf(needle, at + needle.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
