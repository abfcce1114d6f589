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
}
