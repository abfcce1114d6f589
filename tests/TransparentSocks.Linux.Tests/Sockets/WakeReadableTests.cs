using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Tests.Sockets;

/// <summary>
/// The timed wake-up the sniff step waits with: on time to the millisecond rather than at the 200 ms sweep, once, and
/// never after it was cancelled. The socket is an accepted loopback connection whose peer sends nothing.
/// </summary>
[Trait("Category", "Unit")]
public sealed class WakeReadableTests : AcceptedSocketTest
{
    [Theory]
    [InlineData(30)]
    [InlineData(130)]
    [InlineData(450)]
    public async Task WakeReadableAt_NothingArrives_WaitEndsAtTheTimeNotAtTheNextSweep(int afterMs)
    {
        var tick = Accepted.Readable.Tick;
        var wait = Accepted.Readable.WaitAsync(tick).AsTask()
            .ContinueWith(t => (t.Result, Environment.TickCount64), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        // From a thread that is not the loop's, as a continuation off a thread-pool thread would ask.
        var due = await Task.Run(() =>
        {
            var at = Environment.TickCount64 + afterMs;
            Accepted.WakeReadableAt(at);
            return at;
        });
        var (result, woke) = await wait.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(Errno.None, result);
        Assert.False(Accepted.IsAborted);

        // Never before its time (tick counts move in whole milliseconds, so up to a tick early). How late depends on
        // the scheduler: on a quiet host a few ms, under the whole suite's load a loaded loop thread can be far later,
        // so only a bound that separates "woken" from "never woken" is asserted.
        Assert.InRange(woke - due, -16, 2000);
        Assert.True(Accepted.TryReceive(new byte[16]).Error == Errno.EAGAIN, "the wake-up is no data");
    }

    [Fact]
    public async Task WakeReadableAt_Cancelled_NeverSignals()
    {
        var tick = Accepted.Readable.Tick;
        Accepted.WakeReadableAt(Environment.TickCount64 + 50);
        Accepted.CancelWake();
        var wait = Accepted.Readable.WaitAsync(tick).AsTask();

        var finished = await Task.WhenAny(wait, Task.Delay(500));

        Assert.NotSame(wait, finished);
        Accepted.Abort(Errno.ECANCELED);
        Assert.Equal(Errno.ECANCELED, await wait.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task WakeReadableAt_DataArrivesFirst_WaitEndsWithTheData()
    {
        var tick = Accepted.Readable.Tick;
        Accepted.WakeReadableAt(Environment.TickCount64 + 5000);
        var wait = Accepted.Readable.WaitAsync(tick).AsTask();
        var clock = Stopwatch.StartNew();

        await Peer.SendAsync(new byte[] { 1, 2, 3 });
        Assert.Equal(Errno.None, await wait.WaitAsync(TimeSpan.FromSeconds(5)));
        Accepted.CancelWake();

        Assert.True(clock.ElapsedMilliseconds < 2000);
        Assert.Equal(3, Accepted.TryReceive(new byte[16]).Bytes);
    }

    [Fact]
    public async Task WakeReadableAt_ManySocketsAtDifferentTimes_EachWakesAtItsOwn()
    {
        // Several pending wake-ups on one loop: a run of them must leave the later ones scheduled, not lost.
        var sockets = new List<(LinuxSocket Socket, Socket Peer)>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                var connect = peer.ConnectAsync(Listener.GetLocalEndPoint()!);
                var accepted = await Listener.AcceptAsync();
                await connect;
                sockets.Add((LinuxSocket.Adopt(accepted.Fd, Accepted.Loop), peer));
            }

            var start = Environment.TickCount64;
            var clock = Stopwatch.StartNew();
            // Timed where the wake-up lands, on the loop thread: a thread-pool hop would add the pool's delays.
            var waits = sockets.Select((s, i) =>
            {
                var tick = s.Socket.Readable.Tick;
                s.Socket.WakeReadableAt(start + 40 + (i * 120));
                return s.Socket.Readable.WaitAsync(tick).AsTask().ContinueWith(_ => clock.ElapsedMilliseconds, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }).ToArray();

            var ended = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(5));

            for (var i = 0; i < ended.Length; i++)
            {
                // Each no earlier than its own time, and in order: a run of wake-ups kept the later ones.
                Assert.True(ended[i] >= 40 + (i * 120) - 16, $"socket {i} woke at {ended[i]} ms");
                Assert.True(i == 0 || ended[i] >= ended[i - 1], $"socket {i} woke before socket {i - 1}");
            }
        }
        finally
        {
            foreach (var (socket, peer) in sockets)
            {
                peer.Dispose();
                socket.Dispose();
            }
        }
    }
}
