using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>Scope is honoured: only enabled interfaces, never bypassed destinations, runtime changes, limits.</summary>
[Trait("Category", "Integration")]
public sealed class TransparentScopeTests
{
    [Fact]
    public async Task DisabledInterface_IsNotDiverted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-off");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, interfaces: "[]"));

        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(lab.ClientV4, Assert.Single(target.Requests).Client.Address);
        Assert.DoesNotContain("connected to", upstream.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BypassedDestination_IsNotDiverted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-byp");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, bypass: $"""[ "{lab.TargetV4}/32" ]"""));

        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(lab.ClientV4, Assert.Single(target.Requests).Client.Address);
        Assert.DoesNotContain("connected to", upstream.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnableAndDisableAtRuntime_ApplyToNewConnections_AndRunningOnesSurviveDisable()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-rt");
        await using var web = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await using var echo = lab.Target.CreateInside(() => new EchoTarget(IPAddress.Any, port: 7000));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        var disabled = Config(lab, upstream.EndPoint, interfaces: "[]");
        var enabled = Config(lab, upstream.EndPoint);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, disabled);

        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/1")).ExitCode);
        Assert.Equal(lab.ClientV4, web.Requests[^1].Client.Address);

        Assert.True(await daemon.ReloadAsync(enabled), daemon.Log);
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/2")).ExitCode);
        Assert.Equal(lab.GatewayTargetSideV4, web.Requests[^1].Client.Address);
        var set = await NftAsync(lab.Gateway, "list", "set", "inet", "transparentsocks", "interfaces");
        Assert.Contains(lab.ClientInterface, set, StringComparison.Ordinal);

        // A diverted connection held open across the disable.
        using var held = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 7000));
        Assert.Equal("one", await EchoAsync(held, "one"));
        Assert.Equal(lab.GatewayTargetSideV4, Assert.Single(echo.Clients).Address);

        Assert.True(await daemon.ReloadAsync(disabled), daemon.Log);
        Assert.Equal(0, (await lab.CurlFromClientAsync($"http://{lab.TargetV4}/3")).ExitCode);
        Assert.Equal(lab.ClientV4, web.Requests[^1].Client.Address);
        Assert.Equal("two", await EchoAsync(held, "two"));

        // Only elements changed: the rules are the same rules.
        var table = await NftAsync(lab.Gateway, "list", "table", "inet", "transparentsocks");
        Assert.Contains("tproxy ip to 127.0.0.1:12345", table, StringComparison.Ordinal);
        Assert.DoesNotContain(lab.ClientInterface, await NftAsync(lab.Gateway, "list", "set", "inet", "transparentsocks", "interfaces"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxConnections_ExtraConnectionIsResetAndCounted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-max");
        await using var echo = lab.Target.CreateInside(() => new EchoTarget(IPAddress.Any, port: 7000));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        var interfaces = $$"""[ { "name": "{{lab.ClientInterface}}", "maxConnections": 1 } ]""";
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, upstream.EndPoint, interfaces: interfaces));

        using var first = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 7000));
        Assert.Equal("first", await EchoAsync(first, "first"));

        var received = Array.Empty<byte>();
        var error = await Record.ExceptionAsync(async () =>
        {
            using var second = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 7000));
            await second.SendAsync("second"u8.ToArray());
            received = await Socks5TestClient.ReadToEndAsync(second, TimeSpan.FromSeconds(10));
        });

        Assert.Empty(received);
        // Refused at admission, it is closed with RST before anything is read: some call on it always sees the reset.
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error).SocketErrorCode);
        Assert.Single(echo.Clients);
        Assert.True(await daemon.Process.WaitForTextAsync("maxConnections (1) reached", TimeSpan.FromSeconds(10)), daemon.Log);
        Assert.Equal("still", await EchoAsync(first, "still"));
    }

    private static async Task<string> EchoAsync(Socket socket, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(bytes);
        return Encoding.ASCII.GetString(await Socks5TestClient.ReadExactlyAsync(socket, bytes.Length));
    }
}
