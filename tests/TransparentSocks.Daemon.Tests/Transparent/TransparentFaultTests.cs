using System.Net;
using System.Net.Sockets;
using TransparentSocks.Control;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using ControlCli = TransparentSocks.Daemon.Tests.Control.Cli;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>Faults on the client side of the transparent path, made in the kernel, not simulated.</summary>
[Trait("Category", "Integration")]
public sealed class TransparentFaultTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    /// <summary>
    /// A client that vanishes without a FIN or an RST (its link goes down: a laptop closed, a cable pulled) leaves
    /// the gateway nothing to react to. The idle timeout must reclaim its session, and the target's side with it.
    /// </summary>
    [Fact]
    public async Task ClientVanishesWithoutFin_TheIdleTimeoutReclaimsItsSessionAndClosesTheTargetSide()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-vanish");
        await using var target = lab.Target.CreateInside(() => new EchoTarget(IPAddress.Any, port: 7));
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        var config = Config(lab, upstream.EndPoint).Replace($"\"port\": {DivertPort},", $"\"port\": {DivertPort}, \"idleTimeout\": 2,", StringComparison.Ordinal);
        Assert.Contains("\"idleTimeout\": 2", config, StringComparison.Ordinal);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        using (var client = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 7)))
        {
            await client.SendAsync("still here\n"u8.ToArray(), SocketFlags.None);
            var echo = new byte[11];
            using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var got = 0;
            while (got < echo.Length)
            {
                var n = await client.ReceiveAsync(echo.AsMemory(got), SocketFlags.None, read.Token);
                Assert.NotEqual(0, n);
                got += n;
            }

            Assert.Equal(1, (await ControlCli.JsonAsync(socket, J.SessionsResponse, "show", "sessions")).Total);

            // From now on the client's kernel drops everything it would send: the gateway hears nothing more from
            // it, not even the FIN that closing the socket below sends (the link stays up, as a pulled cable two
            // switches away would leave it).
            await lab.Client.ExecOrThrowAsync("nft", "add table inet tsvanish { chain out { type filter hook output priority 0; policy drop; }; }");
        }

        var vanished = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(1, (await ControlCli.JsonAsync(socket, J.SessionsResponse, "show", "sessions")).Total);
        var open = 1;
        for (var i = 0; i < 100 && open != 0; i++)
        {
            await Task.Delay(100);
            open = (await ControlCli.JsonAsync(socket, J.SessionsResponse, "show", "sessions")).Total;
        }

        Assert.True(open == 0, daemon.Log);
        Assert.InRange(vanished.Elapsed, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6));

        // The target's connection was closed by the gateway too: its handler finished.
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, TimeSpan.FromSeconds(5)), daemon.Log);
    }

    /// <summary>
    /// nft that cannot be run (here /dev/null bound over it: "Permission denied"; a missing binary is the same
    /// failure to exec) or that refuses and exits without reading its input (EPIPE on our write). Both used to
    /// crash the daemon with an unhandled exception (SIGABRT); now it stops with one line naming nft's error, and
    /// installs nothing. The daemon runs in a mount namespace of its own, so the host's nft is never touched.
    /// </summary>
    [Theory]
    [InlineData("missing", "cannot run /usr/sbin/nft: Permission denied")]
    [InlineData("refusing", "Error: Could not process rule: Operation not supported")]
    public async Task NftThatCannotRunOrRefusesAtOnce_StopsTheStartWithItsErrorAndInstallsNothing(string kind, string expected)
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-nftbad");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name);
        var config = DaemonProcess.WriteConfig(Config(lab, upstream.EndPoint));
        var fake = "/dev/null";
        if (kind == "refusing")
        {
            fake = Path.Combine(Path.GetDirectoryName(config)!, "nft");
            File.WriteAllText(fake, "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n");
            await ExternalProcess.RunOrThrowAsync("chmod", ["0700", fake], TimeSpan.FromSeconds(5));
        }

        await using var daemon = lab.Gateway.Start(
            "unshare", "-m", "--propagation", "private", "sh", "-c",
            $"mount --bind '{fake}' /usr/sbin/nft && exec dotnet '{DaemonProcess.DaemonDll}' --config '{config}'");

        Assert.True(await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)), daemon.Output + daemon.Error);
        var log = daemon.Output + daemon.Error;
        Assert.Equal(1, daemon.ExitCode);
        Assert.Contains($"transparentsocksd cannot start: transparent: nft refused the ruleset: {expected}", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", log, StringComparison.Ordinal);
        Assert.DoesNotContain("transparentsocks", await NftAsync(lab.Gateway, "list", "tables"), StringComparison.Ordinal);
        Assert.DoesNotContain("5453", await IpAsync(lab.Gateway, "-4", "rule"), StringComparison.Ordinal);
    }

    /// <summary>
    /// An upstream whose SYNs vanish (a dead path: here a veth whose far end is down, with a static neighbour, so
    /// nothing answers and nothing is refused). Each client is reset once the connect timeout ends, the failure is
    /// counted as a timeout, and the daemon serves the next client as before.
    /// </summary>
    [Fact]
    public async Task UpstreamBlackholesSyns_ClientsAreResetAtTheConnectTimeoutCountedAsTimeout()
    {
        await using var lab = await GatewayLab.CreateAsync("tsd-blackhole");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, port: 80));
        await lab.Gateway.ExecOrThrowAsync("ip", "link", "add", "tsbh0", "type", "veth", "peer", "name", "tsbh1");
        await lab.Gateway.ExecOrThrowAsync("ip", "link", "set", "tsbh0", "up");
        await lab.Gateway.ExecOrThrowAsync("ip", "addr", "add", "192.0.2.1/24", "dev", "tsbh0");
        await lab.Gateway.ExecOrThrowAsync("ip", "neigh", "add", "192.0.2.9", "lladdr", "02:00:00:00:00:09", "dev", "tsbh0");
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, Config(lab, new IPEndPoint(IPAddress.Parse("192.0.2.9"), 1080)));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        for (var i = 0; i < 3; i++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var curl = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/", "--max-time", "15");

            // curl: (56) Recv failure: Connection reset by peer. The connect timeout is 2 s (TransparentLab.Config).
            Assert.True(curl.ExitCode == 56, $"curl exited {curl.ExitCode}: {curl.Error}\n{daemon.Log}");
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.8), TimeSpan.FromSeconds(4));
        }

        var iface = await ControlCli.JsonAsync(socket, J.InterfaceInfo, "show", "interface", lab.ClientInterface);
        Assert.Equal(3, iface.ConnectFailures);
        Assert.True(iface.Failures.GetValueOrDefault("timeout") == 3, $"{string.Join(", ", iface.Failures)}\n{daemon.Log}");
        Assert.Empty(target.Requests);
    }
}
