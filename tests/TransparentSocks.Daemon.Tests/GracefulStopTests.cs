using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests;

/// <summary>SIGTERM closes the listeners, lets sessions finish for relay.drainTimeout, then resets the rest.</summary>
[Trait("Category", "Integration")]
public sealed class GracefulStopTests
{
    [Fact]
    public async Task Sigterm_WithLongDrain_StopsAcceptingButKeepsRelayingPastTheDefaultDrain_ThenExitsWhenTheSessionEnds()
    {
        await using var echo = new EchoTarget(IPAddress.Loopback);
        var listen = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var daemon = await StartAsync(listen, drainSeconds: 30);
        using var session = await OpenSessionAsync(listen, echo.EndPoint);
        await AssertEchoesAsync(session, "before the stop");

        await SignalAsync(daemon, "TERM");
        Assert.True(await Poll.UntilAsync(() => !ListenProbe.IsListening(daemon.Process.Pid, listen), TimeSpan.FromSeconds(10)), daemon.Log);

        // Longer than the default drain of 5 s: the configured 30 s is what holds the session open.
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.False(daemon.Process.HasExited, daemon.Log);
        await AssertEchoesAsync(session, "during the drain");

        session.Shutdown(SocketShutdown.Send);
        Assert.Empty(await Socks5TestClient.ReadToEndAsync(session, TimeSpan.FromSeconds(10)));
        Assert.True(await daemon.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)), daemon.Log);
        Assert.Equal(0, daemon.Process.ExitCode);
        Assert.Contains("draining sessions for up to 30 s", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_WithZeroDrain_ResetsTheIdleSessionAndExitsAtOnce()
    {
        await using var echo = new EchoTarget(IPAddress.Loopback);
        var listen = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        await using var daemon = await StartAsync(listen, drainSeconds: 0);
        using var session = await OpenSessionAsync(listen, echo.EndPoint);
        await AssertEchoesAsync(session, "before the stop");

        await SignalAsync(daemon, "TERM");

        // Well under the default drain of 5 s plus the host's own stop work.
        Assert.True(await daemon.Process.WaitForExitAsync(TimeSpan.FromSeconds(4)), daemon.Log);
        Assert.Equal(0, daemon.Process.ExitCode);
        // A session cut by the end of the drain did not get all of its stream, so it must not see a clean FIN.
        var cut = await Assert.ThrowsAsync<SocketException>(() => Socks5TestClient.ReadToEndAsync(session, TimeSpan.FromSeconds(10)));
        Assert.Equal(SocketError.ConnectionReset, cut.SocketErrorCode);
    }

    private static Task<DaemonProcess> StartAsync(IPEndPoint listen, double drainSeconds)
        => DaemonProcess.StartListeningAsync(listen, $$"""
            {
              "server": { "enabled": true, "listen": "{{listen}}", "allowPrivateDestinations": true },
              "relay": { "drainTimeout": {{drainSeconds.ToString(CultureInfo.InvariantCulture)}} }
            }
            """);

    private static async Task<Socket> OpenSessionAsync(IPEndPoint proxy, IPEndPoint target)
    {
        var socket = await Socks5TestClient.ConnectAsync(proxy);
        var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromAddress(target.Address, target.Port));
        Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);
        return socket;
    }

    private static async Task AssertEchoesAsync(Socket session, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await session.SendAsync(bytes);
        Assert.Equal(text, Encoding.ASCII.GetString(await Socks5TestClient.ReadExactlyAsync(session, bytes.Length)));
    }

    private static Task SignalAsync(DaemonProcess daemon, string signal)
        => ExternalProcess.RunOrThrowAsync("kill", [$"-{signal}", daemon.Process.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
}
