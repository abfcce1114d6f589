using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using Xunit.Abstractions;

namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// Handshake starvation against the real daemon (issue 11): one source holds 10,000 connections that each send one
/// byte and stall, reopening each as the daemon closes it, while a second source makes CONNECTs through the server.
/// The engine tests prove the admission rules; this proves them with the daemon's own listener, event loops and
/// default limits, at a count far past every budget. 127.0.0.2 and 127.0.0.3 are loopback on Linux, so the two are
/// distinct sources without a namespace.
/// </summary>
[Collection(HeavyLoadCollection.Name)]
[Trait("Category", "Integration")]
public sealed class HandshakeStarvationTests(ITestOutputHelper output)
{
    private const int StalledConnections = 10_000;
    private const int HonestRequests = 50;

    // The attack is bounded in count as well as time: at most this many connects in all.
    private const int MaxAttackerConnects = 200_000;

    // Each stalled connection is reopened 0.5–1.5 s after the daemon closed it. Without a pause, 10,000 connections
    // closed at accept would make the attacker a connect-rate flood of the two shared cores, which measures the host,
    // not the admission rules; with it the daemon still sees about 10,000 new stalled connections a second. The
    // jitter spreads them out: 10,000 SYNs at one instant overflow the kernel's accept queue (somaxconn 4096) before
    // any program can accept, and a dropped handshake costs whoever it hits a 1 s retransmit.
    private static readonly TimeSpan MinRefillDelay = TimeSpan.FromSeconds(0.5);

    private static readonly TimeSpan HonestSpacing = TimeSpan.FromMilliseconds(100);

    private static readonly IPAddress AttackerAddress = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress HonestAddress = IPAddress.Parse("127.0.0.3");

    // The daemon gives a handshake 10 s (server.handshakeTimeout). An honest client that waits for a stalled
    // handshake's slot takes that long; one served while the attacker is held at its cap takes milliseconds (the
    // median), up to a second or so when its SYN lands in a full accept queue on a busy shared host. Half the
    // deadline tells the two apart.
    private static readonly TimeSpan HonestBound = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan AttackBound = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task TenThousandStalledHandshakes_FromOneSource_DoNotDelayAnotherSource()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        var listen = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        // Default limits (maxHandshakes 512, maxHandshakesPerClient 32, handshakeTimeout 10 s): the test is of what
        // an operator gets without tuning.
        await using var daemon = await DaemonProcess.StartListeningAsync(listen, $$"""
            {
              "server": { "enabled": true, "listen": "{{listen}}", "allowPrivateDestinations": true },
              "logging": { "level": "information" }
            }
            """);
        var pid = daemon.Process.Pid;

        // The first session also opens what the daemon keeps for good (its event loops' pipes, the runtime's own).
        Assert.True((await HonestRequestAsync(listen, target.EndPoint)).Served, daemon.Log);
        await Task.Delay(500);
        var baseline = FdCounter.CountOf(pid);

        var attacker = new Attacker(listen);
        using var stop = new CancellationTokenSource(AttackBound);
        var attack = attacker.RunAsync(stop.Token);
        var latencies = new List<TimeSpan>();
        var failures = new List<string>();
        var peakFds = 0;
        var daemonCores = 0.0;
        try
        {
            // Two waves in: every worker has been closed once and has come back, so the refill is under way.
            Assert.True(
                await Poll.UntilAsync(() => attacker.Connected >= 2 * StalledConnections || attack.IsCompleted, TimeSpan.FromSeconds(60)),
                $"the attacker reached the daemon {attacker.Connected} times, not {2 * StalledConnections}: {attacker}");
            Assert.False(attack.IsCompleted, attacker.ToString());

            var cpuBefore = ProcStat.CpuSeconds(pid);
            var phase = Stopwatch.StartNew();
            for (var i = 0; i < HonestRequests && !attack.IsCompleted; i++)
            {
                var (served, elapsed, error) = await HonestRequestAsync(listen, target.EndPoint);
                latencies.Add(elapsed);
                if (elapsed > TimeSpan.FromMilliseconds(200))
                {
                    output.WriteLine($"slow {i}: {elapsed.TotalMilliseconds:0} ms, {error}");
                }
                if (!served)
                {
                    failures.Add($"request {i}: {error}");
                }

                peakFds = Math.Max(peakFds, FdCounter.CountOf(pid));

                // Spread over several refill waves, so requests land while a wave is being accepted and rejected.
                await Task.Delay(HonestSpacing);
            }

            Assert.False(attack.IsCompleted, $"the attack ended before the honest client did: {attacker}");
            daemonCores = (ProcStat.CpuSeconds(pid) - cpuBefore) / phase.Elapsed.TotalSeconds;
        }
        finally
        {
            await stop.CancelAsync();
            await attack;
        }

        latencies.Sort();
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"honest: {latencies.Count} requests, median {latencies[latencies.Count / 2].TotalMilliseconds:0.0} ms, max {latencies[^1].TotalMilliseconds:0.0} ms; attacker: {attacker}; daemon fds baseline {baseline}, peak {peakFds}, daemon CPU {daemonCores:0.00} cores"));

        Assert.False(daemon.Process.HasExited, $"daemon exited ({daemon.Process.ExitCode}):\n{daemon.Log}");
        Assert.Empty(failures);
        Assert.Equal(HonestRequests, latencies.Count);
        Assert.True(latencies[^1] < HonestBound, $"slowest honest request took {latencies[^1].TotalMilliseconds:0} ms");

        // The attacker's connections are gone: the daemon's sockets follow as it sees their closes.
        var slack = 4;
        Assert.True(
            await Poll.UntilAsync(() => FdCounter.CountOf(pid) <= baseline + slack, TimeSpan.FromSeconds(15)),
            $"{FdCounter.CountOf(pid)} fds open after the attack, baseline {baseline}");
        Assert.True((await HonestRequestAsync(listen, target.EndPoint)).Served, daemon.Log);
        Assert.False(daemon.Process.HasExited, daemon.Log);
    }

    private static async Task<(bool Served, TimeSpan Elapsed, string Error)> HonestRequestAsync(IPEndPoint proxy, IPEndPoint target)
    {
        var clock = Stopwatch.StartNew();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(HonestAddress, 0));
            await socket.ConnectAsync(proxy).WaitAsync(StepTimeout);
            var connected = clock.Elapsed;
            var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromEndPoint(target)).WaitAsync(StepTimeout);
            if (reply.Code != Socks5ReplyCode.Succeeded)
            {
                return (false, clock.Elapsed, $"reply {reply.Code}");
            }

            var message = "honest"u8.ToArray();
            await socket.SendAsync(message);
            var back = await Socks5TestClient.ReadExactlyAsync(socket, message.Length).WaitAsync(StepTimeout);
            return back.AsSpan().SequenceEqual(message) ? (true, clock.Elapsed, $"connect {connected.TotalMilliseconds:0}") : (false, clock.Elapsed, "echo differs");
        }
        catch (Exception ex) when (ex is SocketException or TimeoutException or InvalidOperationException or IOException)
        {
            return (false, clock.Elapsed, ex.Message);
        }
    }

    /// <summary>
    /// <see cref="StalledConnections"/> workers, each holding one connection from the attacker's address that sends the
    /// first byte of a greeting and stops, and opening the next once the daemon has closed it.
    /// </summary>
    private sealed class Attacker(IPEndPoint proxy)
    {
        private int _connects;
        private int _connected;
        private int _failed;
        private int _closedByDaemon;
        private int _open;
        private int _peakOpen;
        private int _resetAtAccept;
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _errors = new();

        /// <summary>Connections that reached the daemon, over the whole attack: completed, or reset as they completed.</summary>
        public int Connected => Volatile.Read(ref _connected) + Volatile.Read(ref _resetAtAccept);

        public async Task RunAsync(CancellationToken stop)
        {
            await Task.WhenAll(Enumerable.Range(0, StalledConnections).Select(_ => Task.Run(() => WorkAsync(stop))));
        }

        private async Task WorkAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref _connects) <= MaxAttackerConnects)
            {
                InterlockedMax(ref _peakOpen, Interlocked.Increment(ref _open));
                try
                {
                    await StallOnceAsync(stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                finally
                {
                    Interlocked.Decrement(ref _open);
                }

                if (!await PauseAsync(stop))
                {
                    return;
                }
            }
        }

        private async Task StallOnceAsync(CancellationToken stop)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(new IPEndPoint(AttackerAddress, 0));
                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
                connectTimeout.CancelAfter(StepTimeout);
                await socket.ConnectAsync(proxy, connectTimeout.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Accepted and reset by the daemon (past the per-client cap) before the connect was even reported.
                Interlocked.Increment(ref _resetAtAccept);
                return;
            }
            catch (Exception ex) when (!stop.IsCancellationRequested && ex is SocketException or OperationCanceledException)
            {
                Interlocked.Increment(ref _failed);
                _errors.AddOrUpdate(ex is SocketException se ? se.SocketErrorCode.ToString() : "timeout", 1, (_, n) => n + 1);
                return;
            }

            Interlocked.Increment(ref _connected);
            try
            {
                await socket.SendAsync(new byte[] { 5 }, stop);

                // Stalled: nothing more is sent. The daemon closes it (reset at once past the per-client cap, at the
                // handshake deadline within it), or the attack ends.
                await socket.ReceiveAsync(new byte[16], stop);
            }
            catch (SocketException)
            {
                // The reset is the daemon's close.
            }

            Interlocked.Increment(ref _closedByDaemon);
        }

        private static async Task<bool> PauseAsync(CancellationToken stop)
        {
            try
            {
                await Task.Delay(MinRefillDelay + TimeSpan.FromMilliseconds(Random.Shared.Next(1000)), stop);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        private static void InterlockedMax(ref int location, int value)
        {
            var seen = Volatile.Read(ref location);
            while (value > seen)
            {
                var was = Interlocked.CompareExchange(ref location, value, seen);
                if (was == seen)
                {
                    return;
                }

                seen = was;
            }
        }

        public override string ToString() => string.Create(
            CultureInfo.InvariantCulture,
            $"{Math.Min(_connects, MaxAttackerConnects)} connects, {_connected} connected and then closed by the daemon ({_closedByDaemon} so far), {_resetAtAccept} reset by it as they connected, {_failed} connects failed ({string.Join(", ", _errors.Select(e => $"{e.Key} {e.Value}"))}), {_peakOpen} open at once at most");
    }
}
