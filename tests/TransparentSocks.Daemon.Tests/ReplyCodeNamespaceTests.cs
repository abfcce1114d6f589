using System.Text.RegularExpressions;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// The network reply codes (0x03, 0x04, 0x05, 0x06) need real routing failures, so the daemon and curl run inside
/// a namespace of the test's own: no default route (network unreachable), an "unreachable" route (host unreachable),
/// a closed port on its own address (refused) and a veth whose far end is down, which swallows SYNs (timeout).
/// No packet leaves the namespace.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class ReplyCodeNamespaceTests
{
    [Fact]
    public async Task Connect_RoutingFailures_MapToExactReplyCodes()
    {
        await using var ns = await NetworkNamespace.CreateAsync("tsd-codes");
        // A veth pair with its far end down: what is sent to 198.51.100.2 (a static neighbour) is lost.
        await ns.ExecOrThrowAsync("ip", "link", "add", "tscode0", "type", "veth", "peer", "name", "tscode1");
        await ns.ExecOrThrowAsync("ip", "link", "set", "tscode0", "up");
        await ns.ExecOrThrowAsync("ip", "addr", "add", "198.51.100.1/24", "dev", "tscode0");
        await ns.ExecOrThrowAsync("ip", "neigh", "add", "198.51.100.2", "lladdr", "02:00:00:00:00:02", "dev", "tscode0");
        await ns.ExecOrThrowAsync("ip", "route", "add", "unreachable", "203.0.113.0/24");

        var config = DaemonProcess.WriteConfig("""
            {
              "server": { "enabled": true, "listen": "127.0.0.1:1080", "allowPrivateDestinations": true },
              "upstream": { "connectTimeout": 1 }
            }
            """);
        await using var daemon = ns.Start("dotnet", DaemonProcess.DaemonDll, "--config", config);
        Assert.True(await daemon.WaitForTextAsync("listening on", TimeSpan.FromSeconds(30)), daemon.Output + daemon.Error);

        Assert.Equal(3, await ReplyCodeAsync(ns, "192.0.2.1"));        // no route at all
        Assert.Equal(4, await ReplyCodeAsync(ns, "203.0.113.9"));      // unreachable route
        Assert.Equal(5, await ReplyCodeAsync(ns, "198.51.100.1"));     // our own address, closed port
        Assert.Equal(6, await ReplyCodeAsync(ns, "198.51.100.2"));     // SYN vanishes into the dead veth
    }

    private static async Task<int> ReplyCodeAsync(NetworkNamespace ns, string address)
    {
        var result = await ns.ExecAsync(TimeSpan.FromSeconds(30), "curl", "-sS", "--max-time", "15", "--socks5", "127.0.0.1:1080", $"http://{address}:80/");
        Assert.NotEqual(0, result.ExitCode);
        var match = ReplyCodePattern().Match(result.Error);
        Assert.True(match.Success, result.Error);
        return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    // curl: (97) Can't complete SOCKS5 connection to 192.0.2.1. (3)
    [GeneratedRegex(@"SOCKS5 connection to [^ ]+\. \((\d)\)")]
    private static partial Regex ReplyCodePattern();
}
