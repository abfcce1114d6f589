using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Tests.EventLoop;

[Trait("Category", "Unit")]
public sealed class ReadinessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void WaitAsync_TickMovedSinceSnapshot_CompletesAtOnce()
    {
        var readiness = new Readiness();
        var tick = readiness.Tick;
        readiness.Signal();

        Assert.Equal(Errno.None, Completed(readiness.WaitAsync(tick)));
        Assert.NotEqual(tick, readiness.Tick);
    }

    [Fact]
    public async Task WaitAsync_CurrentTick_PendsUntilSignal()
    {
        var readiness = new Readiness();

        var wait = readiness.WaitAsync(readiness.Tick).AsTask();
        Assert.False(wait.IsCompleted);
        readiness.Signal();

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.Equal(Errno.None, await wait);
    }

    [Fact]
    public async Task WaitAsync_SecondWaiterWhileOneIsParked_Throws()
    {
        var readiness = new Readiness();
        var tick = readiness.Tick;
        var first = readiness.WaitAsync(tick).AsTask();

        Assert.Throws<InvalidOperationException>(() => Completed(readiness.WaitAsync(tick)));
        readiness.Signal();
        Assert.Equal(Errno.None, await first);
    }

    [Fact]
    public async Task Abort_WhileParked_CompletesTheWaitAndEveryLaterWaitWithTheFirstError()
    {
        var readiness = new Readiness();
        var wait = readiness.WaitAsync(readiness.Tick).AsTask();

        readiness.Abort(Errno.ETIMEDOUT);
        readiness.Abort(Errno.ECANCELED);

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.Equal(Errno.ETIMEDOUT, await wait);
        Assert.Equal(Errno.ETIMEDOUT, readiness.AbortError);
        Assert.Equal(Errno.ETIMEDOUT, Completed(readiness.WaitAsync(readiness.Tick)));
    }

    [Fact]
    public async Task ContinuationRegisteredAfterTheSignal_StillRunsOnce()
    {
        var readiness = new Readiness();
        var awaiter = AwaiterOf(readiness.WaitAsync(readiness.Tick));
        readiness.Signal();

        // The awaiter comes after the completion (the race TryWaitCallback has with a fast signal): it is run, not lost.
        var ran = 0;
        var done = new TaskCompletionSource<Errno>(TaskCreationOptions.RunContinuationsAsynchronously);
        awaiter.UnsafeOnCompleted(() =>
        {
            Interlocked.Increment(ref ran);
            done.TrySetResult(awaiter.GetResult());
        });

        Assert.Equal(Errno.None, await done.Task.WaitAsync(Timeout));
        await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref ran));
    }

    private static System.Runtime.CompilerServices.ValueTaskAwaiter<Errno> AwaiterOf(ValueTask<Errno> wait) => wait.GetAwaiter();

    [Fact]
    public void TryWaitCallback_Parked_RunsTheCallbackOnTheSignalWithItsResult()
    {
        var readiness = new Readiness();
        var results = new List<Errno>();
        object state = results;

        Assert.True(readiness.TryWaitCallback(readiness.Tick, s => ((List<Errno>)s!).Add(readiness.TakeResult()), state, out _));
        Assert.Empty(results);
        readiness.Signal();
        Assert.Equal([Errno.None], results);

        // Parked again on the tick it now has, an abort completes the wait with its error.
        Assert.True(readiness.TryWaitCallback(readiness.Tick, s => ((List<Errno>)s!).Add(readiness.TakeResult()), state, out _));
        readiness.Abort(Errno.ECANCELED);
        Assert.Equal([Errno.None, Errno.ECANCELED], results);

        // Aborted, a wait ends at once and parks nothing.
        Assert.False(readiness.TryWaitCallback(readiness.Tick, _ => results.Add(Errno.EIO), state, out var result));
        Assert.Equal(Errno.ECANCELED, result);
        readiness.Signal();
        Assert.Equal([Errno.None, Errno.ECANCELED], results);
    }

    [Fact]
    public void WaitAndSignal_ManyCycles_DoNotAllocate()
    {
        var readiness = new Readiness();
        Assert.Equal(Errno.None, SignalThenRead(readiness, readiness.WaitAsync(readiness.Tick)));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var woken = 0;
        for (var i = 0; i < 1000; i++)
        {
            woken += SignalThenRead(readiness, readiness.WaitAsync(readiness.Tick)) == Errno.None ? 1 : 0;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1000, woken);
    }

    [Fact]
    public async Task SignalRacingPark_EveryItemIsSeen_NoWakeupIsLost()
    {
        // One item at a time: the producer publishes it, signals, and waits until it is consumed. The consumer leaves
        // the signalling thread after every wake, so its next check-then-park races the next signal. A signal lost in
        // that window leaves the item unconsumed, and the producer says which one.
        const int Items = 20_000;
        var readiness = new Readiness();
        var produced = 0;
        var consumed = 0;

        var consumer = Task.Run(async () =>
        {
            while (Volatile.Read(ref consumed) < Items)
            {
                var tick = readiness.Tick;
                if (Volatile.Read(ref consumed) < Volatile.Read(ref produced))
                {
                    Interlocked.Increment(ref consumed);
                    continue;
                }

                Assert.Equal(Errno.None, await readiness.WaitAsync(tick));
                await Task.Yield();
            }
        });
        var producer = Task.Run(() =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var item = 1; item <= Items; item++)
            {
                Volatile.Write(ref produced, item);
                readiness.Signal();
                var spin = default(SpinWait);
                while (Volatile.Read(ref consumed) < item)
                {
                    if (clock.Elapsed > Timeout)
                    {
                        throw new TimeoutException($"item {item} was never consumed: its wakeup was lost");
                    }

                    spin.SpinOnce();
                }
            }
        });

        await producer.WaitAsync(Timeout + Timeout);
        await consumer.WaitAsync(Timeout);
        Assert.Equal(Items, consumed);
    }

    [Fact]
    public async Task AbortRacingPark_WaitAlwaysEndsWithTheAbortError()
    {
        for (var round = 0; round < 2000; round++)
        {
            var readiness = new Readiness();
            using var start = new Barrier(2);

            var waiter = Task.Run(async () =>
            {
                start.SignalAndWait();
                return await readiness.WaitAsync(readiness.Tick);
            });
            var aborter = Task.Run(() =>
            {
                start.SignalAndWait();
                readiness.Abort(Errno.ECANCELED);
            });

            await aborter.WaitAsync(Timeout);
            Assert.Equal(Errno.ECANCELED, await waiter.WaitAsync(Timeout));
        }
    }

    private static Errno Completed(ValueTask<Errno> wait)
        => wait.IsCompletedSuccessfully ? wait.Result : throw new InvalidOperationException("the wait is still pending");

    // Signals a parked wait and reads its result, without a Task: the path the relay takes on every chunk.
    private static Errno SignalThenRead(Readiness readiness, ValueTask<Errno> parked)
    {
        if (parked.IsCompleted)
        {
            throw new InvalidOperationException("the wait completed before the signal");
        }

        readiness.Signal();
        return parked.IsCompletedSuccessfully ? parked.Result : Errno.EAGAIN;
    }
}
