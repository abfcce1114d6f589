using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// The framework-dependent daemon under a descriptor limit far below what its clients ask for: it must keep its own
/// descriptors (the JIT runtime aborts when one of its threads meets EMFILE), log the shortage as one bounded
/// episode that names EMFILE, and serve again once the flood is gone.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class DescriptorExhaustionTests
{
    private const int DescriptorLimit = 256;
    private const int FloodSessions = 400;
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Daemon_MoreSessionsThanDescriptors_SurvivesLogsOneEpisodeAndServesAfterwards()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var listen = new IPEndPoint(IPAddress.Loopback, port);
        var config = DaemonProcess.WriteConfig($$"""
            {
              "server": { "enabled": true, "listen": "{{listen}}", "allowPrivateDestinations": true, "maxHandshakes": 4096, "maxHandshakesPerClient": 4096 },
              "relay": { "mode": "splice" }
            }
            """);
        try
        {
            // prlimit execs the daemon, so the PID is the daemon's and both limits are the low one (nothing to raise to).
            await using var daemon = ExternalProcess.Start("prlimit", [$"--nofile={DescriptorLimit}:{DescriptorLimit}", "--", "dotnet", DaemonProcess.DaemonDll, "--config", config]);
            Assert.True(await ListenProbe.WaitAsync(daemon, listen, attempts: 150), daemon.Output + daemon.Error);

            var flood = await FloodAsync(listen, target.EndPoint);
            Assert.True(flood.Served > 0, $"no flood session was served; {flood}");
            Assert.True(flood.Served < FloodSessions, $"every flood session was served, so the limit never bit; {flood}");
            Assert.False(daemon.HasExited, $"daemon died under the flood ({daemon.ExitCode}):\n{daemon.Output}{daemon.Error}");

            // An honest client after the flood: served, and an accept after the quiet second ends the episode in the log.
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            Assert.Equal("after the flood", await EchoThroughAsync(listen, target.EndPoint));
            for (var attempt = 0; attempt < 10 && !(daemon.Output + daemon.Error).Contains("accept resumed", StringComparison.Ordinal); attempt++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                Assert.Equal("after the flood", await EchoThroughAsync(listen, target.EndPoint));
            }

            Assert.True(await daemon.WaitForTextAsync("accept resumed", StepTimeout), daemon.Output + daemon.Error);

            var log = daemon.Output + daemon.Error;
            Assert.False(daemon.HasExited, log);
            Assert.DoesNotContain("Out of memory", log, StringComparison.Ordinal);
            Assert.DoesNotContain("Unknown socket error", log, StringComparison.Ordinal);
            var paused = AcceptPaused().Matches(log);
            Assert.InRange(paused.Count, 1, 3);
            Assert.All(paused, m => Assert.Contains("EMFILE", m.Value, StringComparison.Ordinal));
            Assert.Contains("EMFILE", AcceptResumed().Match(log).Value, StringComparison.Ordinal);
            Assert.DoesNotContain("accept failed", log, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }

    private sealed record FloodResult(int Served, int Refused, int Cut)
    {
        public override string ToString() => $"{Served} served, {Refused} refused with a reply, {Cut} cut or timed out";
    }

    /// <summary>Opens every session at once, holds the ones that got through, then closes them all.</summary>
    private static async Task<FloodResult> FloodAsync(IPEndPoint proxy, IPEndPoint target)
    {
        var sockets = new List<Socket>();
        var attempts = Enumerable.Range(0, FloodSessions).Select(async _ =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            lock (sockets)
            {
                sockets.Add(socket);
            }

            try
            {
                using var timeout = new CancellationTokenSource(StepTimeout);
                await socket.ConnectAsync(proxy, timeout.Token);
                var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromEndPoint(target)).WaitAsync(StepTimeout);
                return reply.Code == Socks5ReplyCode.Succeeded ? 0 : 1;
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or TimeoutException or InvalidOperationException or IOException)
            {
                return 2;
            }
        }).ToList();
        var outcomes = await Task.WhenAll(attempts);

        // The served sessions stay open a moment, so the daemon spends a while at its ceiling.
        await Task.Delay(TimeSpan.FromSeconds(1));
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        return new FloodResult(outcomes.Count(o => o == 0), outcomes.Count(o => o == 1), outcomes.Count(o => o == 2));
    }

    private static async Task<string> EchoThroughAsync(IPEndPoint proxy, IPEndPoint target)
    {
        // The daemon gets its descriptors back as it sees the flood's closes; a few tries cover that lag.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        for (var attempt = 0; attempt < 20 && DateTime.UtcNow < deadline; attempt++)
        {
            try
            {
                using var socket = await Socks5TestClient.ConnectAsync(proxy);
                var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromEndPoint(target)).WaitAsync(StepTimeout);
                if (reply.Code == Socks5ReplyCode.Succeeded)
                {
                    var message = "after the flood"u8.ToArray();
                    await socket.SendAsync(message);
                    var back = await Socks5TestClient.ReadExactlyAsync(socket, message.Length).WaitAsync(StepTimeout);
                    return System.Text.Encoding.ASCII.GetString(back);
                }
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException or InvalidOperationException or IOException)
            {
                // Cut while the daemon was still full; the next try decides.
            }

            await Task.Delay(500);
        }

        return "never served";
    }

    [GeneratedRegex("accept paused[^\n]*")]
    private static partial Regex AcceptPaused();

    [GeneratedRegex("accept resumed[^\n]*")]
    private static partial Regex AcceptResumed();
}
