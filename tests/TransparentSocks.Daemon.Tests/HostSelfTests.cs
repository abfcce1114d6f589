using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;

namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// The server must not hand its clients the gateway itself: its addresses (new ones included), its names when a
/// chain passes names on, and its own listener, which would loop the daemon into itself. The daemon runs in the
/// gateway of a lab, next to a service listening on 0.0.0.0 that only the gateway's own addresses reach.
/// </summary>
[Trait("Category", "Integration")]
public sealed class HostSelfTests
{
    private const int SocksPort = 1080;
    private const int GatewayServicePort = 8080;

    // The bound on how long a new address may stay reachable: the periodic refresh, plus slack for a loaded machine.
    private static readonly TimeSpan AddressRefreshDeadline = HostIdentity.RefreshInterval + TimeSpan.FromSeconds(5);

    private static readonly IPAddress AddedAddress = IPAddress.Parse("192.0.2.1");

    [Fact]
    public async Task Connect_GatewaysOwnAddresses_RefusedWithRulesetAndAnAddedOneToo()
    {
        await using var lab = await GatewayLab.CreateAsync("tshs-addr");
        await using var service = lab.Gateway.CreateInside(() => new HttpTarget(IPAddress.Any, "gateway\n", port: GatewayServicePort));
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "target\n", port: 80));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(allowPrivate: false, upstream: null));

        Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromAddress(lab.GatewayClientSideV4, GatewayServicePort)));
        Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromAddress(lab.GatewayTargetSideV4, GatewayServicePort)));
        Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromAddress(lab.GatewayTargetSideV6, GatewayServicePort)));
        Assert.Equal(Socks5ReplyCode.Succeeded, await ReplyAsync(lab, Destination.FromAddress(lab.TargetV4, 80)));

        await lab.Gateway.ExecOrThrowAsync("ip", "addr", "add", $"{AddedAddress}/24", "dev", lab.TargetInterface);

        Assert.True(await RefusedWithinAsync(lab, Destination.FromAddress(AddedAddress, GatewayServicePort), AddressRefreshDeadline), daemon.Log);
        Assert.Equal(Socks5ReplyCode.Succeeded, await ReplyAsync(lab, Destination.FromAddress(lab.TargetV4, 80)));
        Assert.Empty(service.Requests);
    }

    [Fact]
    public async Task Connect_ChainedNamesOfTheGateway_RefusedBeforeTheUpstreamResolvesThem()
    {
        await using var lab = await GatewayLab.CreateAsync("tshs-name");
        var hostName = Dns.GetHostName();

        // ip netns exec mounts /etc/netns/NAME/hosts over /etc/hosts for what it starts: the daemon and microsocks
        // read this file, the rest of the machine never sees it.
        var hostsDirectory = Path.Combine("/etc/netns", lab.Gateway.Name);
        Directory.CreateDirectory(hostsDirectory);
        try
        {
            await File.WriteAllTextAsync(Path.Combine(hostsDirectory, "hosts"), $"""
                127.0.0.1 localhost
                127.0.1.1 {hostName} tshs-alias.test
                {lab.GatewayTargetSideV4} tshs-gateway.test
                {lab.TargetV4} tshs-target.test
                """);
            await using var service = lab.Gateway.CreateInside(() => new HttpTarget(IPAddress.Any, "gateway\n", port: GatewayServicePort));
            await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "target\n", port: 80));
            await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
            await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(allowPrivate: false, upstream.EndPoint));

            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromHost(hostName, GatewayServicePort)));
            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromHost("tshs-alias.test", GatewayServicePort)));
            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromHost("tshs-gateway.test", GatewayServicePort)));
            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromHost("tshs-gateway.test", SocksPort)));
            Assert.Equal(Socks5ReplyCode.Succeeded, await ReplyAsync(lab, Destination.FromHost("tshs-target.test", 80)));

            // The one name let through travelled to the upstream unresolved; none of the refused ones got there.
            Assert.True(await upstream.WaitForLogAsync("connected to tshs-target.test", TimeSpan.FromSeconds(10)), upstream.Log);
            Assert.DoesNotContain("tshs-gateway", upstream.Log, StringComparison.Ordinal);
            Assert.DoesNotContain("tshs-alias", upstream.Log, StringComparison.Ordinal);
            Assert.Empty(service.Requests);
        }
        finally
        {
            Directory.Delete(hostsDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Connect_OwnListenerByAddress_RefusedInEveryOutboundModeEvenWithPrivateAllowed()
    {
        await using var lab = await GatewayLab.CreateAsync("tshs-loop");
        await using var service = lab.Gateway.CreateInside(() => new HttpTarget(IPAddress.Any, "gateway\n", port: GatewayServicePort));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, ServerConfig(allowPrivate: true, upstream: null));

        await AssertListenerRefusedAsync(lab, lab.GatewayClientSideV4, lab.GatewayTargetSideV4, lab.GatewayTargetSideV6, IPAddress.Loopback);

        // allowPrivateDestinations is the opt-out for the host's other services, never for the listener.
        Assert.Equal(Socks5ReplyCode.Succeeded, await ReplyAsync(lab, Destination.FromAddress(lab.GatewayTargetSideV4, GatewayServicePort)));

        Assert.True(await daemon.ReloadAsync(ServerConfig(allowPrivate: true, upstream.EndPoint)), daemon.Log);
        await AssertListenerRefusedAsync(lab, lab.GatewayClientSideV4, lab.GatewayTargetSideV4, IPAddress.Loopback);

        // An address added after the start is the wildcard listener's too.
        await lab.Gateway.ExecOrThrowAsync("ip", "addr", "add", $"{AddedAddress}/24", "dev", lab.TargetInterface);
        Assert.True(await RefusedWithinAsync(lab, Destination.FromAddress(AddedAddress, SocksPort), AddressRefreshDeadline), daemon.Log);
        Assert.Equal(Socks5ReplyCode.Succeeded, await ReplyAsync(lab, Destination.FromAddress(AddedAddress, GatewayServicePort)));
    }

    private static async Task AssertListenerRefusedAsync(GatewayLab lab, params IPAddress[] addresses)
    {
        foreach (var address in addresses)
        {
            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, await ReplyAsync(lab, Destination.FromAddress(address, SocksPort)));
        }
    }

    private static string ServerConfig(bool allowPrivate, IPEndPoint? upstream)
    {
        var outbound = upstream is null ? "direct" : "upstream";
        var upstreamBlock = upstream is null ? "" : $$""", "upstream": { "address": "{{upstream}}", "connectTimeout": 5 }""";
        return $$"""
            {
              "server": { "enabled": true, "listen": "0.0.0.0:{{SocksPort}}", "allowNoAuthOnPublicAddress": true,
                          "allowPrivateDestinations": {{(allowPrivate ? "true" : "false")}}, "outbound": "{{outbound}}" }{{upstreamBlock}}
            }
            """;
    }

    /// <summary>The reply to one CONNECT from the client namespace, through the daemon's listener on the gateway.</summary>
    private static async Task<Socks5ReplyCode> ReplyAsync(GatewayLab lab, Destination destination)
    {
        using var socket = await lab.ConnectFromClientAsync(new IPEndPoint(lab.GatewayClientSideV4, SocksPort));
        return (await Socks5TestClient.HandshakeAsync(socket, destination)).Code;
    }

    private static async Task<bool> RefusedWithinAsync(GatewayLab lab, Destination destination, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        for (var attempt = 0; attempt < 100 && DateTime.UtcNow < deadline; attempt++)
        {
            if (await ReplyAsync(lab, destination) == Socks5ReplyCode.NotAllowedByRuleset)
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }
}
