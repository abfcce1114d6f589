using System.Net;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;

namespace TransparentSocks.TestSupport.Tests.Lab;

/// <summary>
/// Proves the gateway lab with plain routing and no proxy at all: if these fail, the topology (or
/// the machine) is broken, and no transparent-path test built on it can be trusted.
/// </summary>
[Trait("Category", "Integration")]
public sealed class GatewayLabSelfTests
{
    private const int IntegrityPort = 9000;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task CurlFromClient_Ipv4AndIpv6_TargetSeesClientAddresses()
    {
        await using var lab = await GatewayLab.CreateAsync("tslab-curl");
        await using var web4 = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, body: "v4\n", port: 80));
        await using var web6 = lab.Target.CreateInside(() => new HttpTarget(IPAddress.IPv6Any, body: "v6\n", port: 80));

        var v4 = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/four");
        var v6 = await lab.CurlFromClientAsync($"http://[{lab.TargetV6}]/six");

        Assert.True(v4.ExitCode == 0, v4.Error);
        Assert.Equal("v4\n", v4.Output);
        Assert.True(v6.ExitCode == 0, v6.Error);
        Assert.Equal("v6\n", v6.Output);
        var request4 = Assert.Single(web4.Requests);
        Assert.Equal("/four", request4.Path);
        Assert.Equal(lab.ClientV4, request4.Client.Address);
        var request6 = Assert.Single(web6.Requests);
        Assert.Equal("/six", request6.Path);
        Assert.Equal(lab.ClientV6, request6.Client.Address);
    }

    [Fact]
    public async Task CreateAsync_Gateway_ForwardsWithRpFilterOff()
    {
        await using var lab = await GatewayLab.CreateAsync("tslab-sysctl");

        var values = await lab.Gateway.ExecOrThrowAsync(
            "sysctl", "-n",
            "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
            "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter",
            $"net.ipv4.conf.{lab.ClientInterface}.rp_filter", $"net.ipv4.conf.{lab.TargetInterface}.rp_filter");

        Assert.Equal(["1", "1", "0", "0", "0", "0"], values.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(lab.ClientInterface.Length <= 15, lab.ClientInterface);
        Assert.True(lab.TargetInterface.Length <= 15, lab.TargetInterface);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConnectFromClient_16MiBEachWayThroughGateway_HashesMatch(bool ipv6)
    {
        const long Size = 16L * 1024 * 1024;
        await using var lab = await GatewayLab.CreateAsync(ipv6 ? "tslab-hash6" : "tslab-hash4");
        var listen = ipv6 ? IPAddress.IPv6Any : IPAddress.Any;
        await using var target = lab.Target.CreateInside(() => new HashTarget(listen, Size, seed: 2, port: IntegrityPort));
        var destination = new IPEndPoint(ipv6 ? lab.TargetV6 : lab.TargetV4, IntegrityPort);
        using var socket = await lab.ConnectFromClientAsync(destination);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var client = await IntegrityClient.RunAsync(socket, Size, seed: 1, timeout.Token);
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, Wait));
        var server = Assert.Single(target.Results);

        Assert.Empty(target.Errors);
        Assert.Equal(ipv6 ? lab.ClientV6 : lab.ClientV4, server.Peer?.Address);
        Assert.Equal(Size, client.ReceivedBytes);
        Assert.Equal(Size, server.ReceivedBytes);
        Assert.Equal(PseudoRandomBytes.Sha256Hex(Size, seed: 1), server.ReceivedSha256);
        Assert.Equal(PseudoRandomBytes.Sha256Hex(Size, seed: 2), client.ReceivedSha256);
    }

    [Fact]
    public async Task ConnectFromClient_FromSecondaryAddress_TargetSeesThatAddress()
    {
        var secondary = IPAddress.Parse("198.51.100.3");
        await using var lab = await GatewayLab.CreateAsync("tslab-second");
        await lab.AddClientAddressAsync(secondary);
        await using var target = lab.Target.CreateInside(() => new EchoTarget(IPAddress.Any, port: IntegrityPort));

        using (var socket = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, IntegrityPort), secondary))
        {
            socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            Assert.Equal(0, await socket.ReceiveAsync(new byte[1]));
        }

        Assert.Equal(secondary, Assert.Single(target.Clients).Address);
        await Assert.ThrowsAsync<ArgumentException>(() => lab.AddClientAddressAsync(IPAddress.Parse("203.0.113.9")));
    }

    [Fact]
    public async Task DisposeAsync_Always_RemovesAllThreeNamespaces()
    {
        var lab = await GatewayLab.CreateAsync("tslab-gone");
        string[] names = [lab.Client.Name, lab.Gateway.Name, lab.Target.Name];
        var before = await ListNamespacesAsync();
        Assert.All(names, name => Assert.Contains(name, before, StringComparison.Ordinal));

        await lab.DisposeAsync();

        var after = await ListNamespacesAsync();
        Assert.All(names, name => Assert.DoesNotContain(name, after, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CreateAsync_SetupStepFails_RemovesNamespacesAndRethrows()
    {
        string[] names = [];

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayLab.CreateAsync(
            "tslab-fail",
            async lab =>
            {
                names = [lab.Client.Name, lab.Gateway.Name, lab.Target.Name];
                await lab.Gateway.ExecOrThrowAsync("ip", "link", "set", "tsnosuchdev", "up");
            }));

        Assert.Contains("tsnosuchdev", failure.Message, StringComparison.Ordinal);
        Assert.Equal(3, names.Length);
        var after = await ListNamespacesAsync();
        Assert.All(names, name => Assert.DoesNotContain(name, after, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CreateInside_FactoryStartsThread_ThrowsInsteadOfLeakingIt()
    {
        await using var lab = await GatewayLab.CreateAsync("tslab-guard");
        using var release = new ManualResetEventSlim();

        var failure = Assert.Throws<InvalidOperationException>(() => lab.Target.CreateInside(() =>
        {
            var stray = new Thread(() => release.Wait(Wait)) { IsBackground = true, Name = "lab stray" };
            stray.Start();
            return stray;
        }));
        release.Set();

        Assert.Contains("lab stray", failure.Message, StringComparison.Ordinal);
    }

    private static async Task<string> ListNamespacesAsync()
        => (await ExternalProcess.RunOrThrowAsync("ip", ["netns", "list"], Wait)).Output;
}
