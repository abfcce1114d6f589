using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using Xunit.Abstractions;

namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// The daemon under a descriptor limit far below what its clients ask for, both as the framework-dependent build the
/// tests reference and as the NativeAOT binary that ships (different runtimes: the JIT one aborts when one of its own
/// threads meets EMFILE, the AOT one has no JIT and its own thread pool). It must keep its own descriptors, log the
/// shortage as one bounded episode that names EMFILE, not spin while the limit bites, and serve again once the flood
/// is gone.
/// </summary>
[Collection(HeavyLoadCollection.Name)]
[Trait("Category", "Integration")]
public sealed partial class DescriptorExhaustionTests(ITestOutputHelper output)
{
    private const int DescriptorLimit = 256;
    private const int FloodSessions = 400;

    // Connections that wait in the backlog while the CPU is measured, so the listener is readable all along: that
    // is the state in which an accept loop without back-off spins.
    private const int BacklogProbes = 32;

    // A spinning accept loop (readable listener, accept fails or is skipped, go again) burns one full core, 1.0 here
    // however busy the host is, since CPU time is only counted while the daemon runs. Back-off wakes it a few times a
    // second for microseconds, and the held sessions are idle, so the daemon's real figure is near 0; 0.5 leaves room
    // for a GC or a timer burst inside the window and still catches a spin, or even a loop spinning half the time.
    private const double MaxCoresWhileFull = 0.5;
    private static readonly TimeSpan CpuWindow = TimeSpan.FromSeconds(3.5);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("jit")]
    [InlineData("aot")]
    public async Task Daemon_MoreSessionsThanDescriptors_SurvivesLogsOneEpisodeDoesNotSpinAndServesAfterwards(string build)
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
            string[] command = ["dotnet", DaemonProcess.DaemonDll, "--config", config];
            if (build == "aot")
            {
                var binary = await NativeAotDaemon.GetAsync(DaemonProcess.DaemonDll);
                output.WriteLine($"NativeAOT daemon {binary}: {NativeAotDaemon.LastPublishNote(binary)}");
                command = [binary, "--config", config];
            }

            // prlimit execs the daemon, so the PID is the daemon's and both limits are the low one (nothing to raise to).
            await using var daemon = ExternalProcess.Start("prlimit", [$"--nofile={DescriptorLimit}:{DescriptorLimit}", "--", .. command]);
            Assert.True(await ListenProbe.WaitAsync(daemon, listen, attempts: 150), daemon.Output + daemon.Error);

            var cores = double.NaN;
            var queued = -1;
            var logAtWindowEnd = "";
            var flood = await FloodAsync(listen, target.EndPoint, async () =>
            {
                // The limit is biting from here to the end of the window: the served sessions hold the budget and the
                // unserved ones, plus the probes, sit in the backlog.
                var probes = await OpenBacklogProbesAsync(listen);
                try
                {
                    cores = await ProcStat.CoresOverAsync(daemon.Pid, CpuWindow);
                    queued = await AcceptQueueAsync(listen.Port);
                    logAtWindowEnd = daemon.Output + daemon.Error;
                }
                finally
                {
                    probes.ForEach(p => p.Dispose());
                }
            });
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{build}: {cores:0.000} cores over {CpuWindow.TotalSeconds} s at the limit, {queued} connections in the accept queue; flood {flood}"));
            Assert.True(flood.Served > 0, $"no flood session was served; {flood}");
            Assert.True(flood.Served < FloodSessions, $"every flood session was served, so the limit never bit; {flood}");
            Assert.False(daemon.HasExited, $"daemon died under the flood ({daemon.ExitCode}):\n{daemon.Output}{daemon.Error}");

            // The window was inside the episode: it had begun, had not ended, and connections were waiting to be accepted.
            Assert.Contains("accept paused", logAtWindowEnd, StringComparison.Ordinal);
            Assert.DoesNotContain("accept resumed", logAtWindowEnd, StringComparison.Ordinal);
            Assert.True(queued > 0, $"the accept queue was empty at the end of the window; {flood}");
            Assert.True(cores < MaxCoresWhileFull, $"{cores:0.00} cores used while out of descriptors (a spin is 1.0); {flood}\n{logAtWindowEnd}");

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

    /// <summary>Opens every session at once, runs <paramref name="whileHeld"/> with the ones that got through still open, then closes them all.</summary>
    private static async Task<FloodResult> FloodAsync(IPEndPoint proxy, IPEndPoint target, Func<Task> whileHeld)
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

        try
        {
            await whileHeld();
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        return new FloodResult(outcomes.Count(o => o == 0), outcomes.Count(o => o == 1), outcomes.Count(o => o == 2));
    }

    /// <summary>Plain TCP connections the kernel completes into the listener's backlog; they send nothing.</summary>
    private static async Task<List<Socket>> OpenBacklogProbesAsync(IPEndPoint proxy)
    {
        var probes = new List<Socket>();
        for (var i = 0; i < BacklogProbes; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probes.Add(socket);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await socket.ConnectAsync(proxy, timeout.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                // A full backlog drops the SYN; the queue is then as full as it gets, which is the point.
                break;
            }
        }

        return probes;
    }

    /// <summary>The listener's accept queue now: for a listening socket ss reports it as Recv-Q.</summary>
    private static async Task<int> AcceptQueueAsync(int port)
    {
        var ss = await ExternalProcess.RunOrThrowAsync("ss", ["-ltnH", $"sport = :{port}"], TimeSpan.FromSeconds(5));
        var fields = ss.Output.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 1 ? int.Parse(fields[1], CultureInfo.InvariantCulture) : -1;
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
