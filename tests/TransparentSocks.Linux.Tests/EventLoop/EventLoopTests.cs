using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Linux.Tests.EventLoop;

/// <summary>The loop against an eventfd and a target of the test's own, with no socket in between.</summary>
[Trait("Category", "Unit")]
public sealed class EventLoopTests : IDisposable
{
    private const uint EpollIn = 0x001;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly Loop _loop = new("ts-test-loop");
    private readonly int _eventFd = Sys.eventfd(0, Sys.EFD_NONBLOCK | Sys.EFD_CLOEXEC);

    public void Dispose()
    {
        _loop.Dispose();
        Sys.close(_eventFd);
    }

    [Fact]
    public async Task Register_FdBecomesReadable_TargetGetsTheEdgeOnTheLoopThread()
    {
        var target = new RecordingTarget(_loop);
        var registration = _loop.Register(_eventFd, target);

        Increment(_eventFd);

        Assert.True(await target.Readable.Task.WaitAsync(Wait));
        registration.Unregister();
    }

    [Fact]
    public async Task Sweep_DeadlinePassed_CallsOnDeadline()
    {
        var target = new RecordingTarget(_loop) { DeadlineMs = Environment.TickCount64 + 100 };
        var registration = _loop.Register(_eventFd, target);

        Assert.True(await target.DeadlinePassed.Task.WaitAsync(Wait));
        registration.Unregister();
    }

    [Fact]
    public void Unregister_SlotReused_GetsANewGenerationSoStaleEventsAreDropped()
    {
        var first = _loop.Register(_eventFd, new RecordingTarget(_loop));
        Assert.Equal(1, _loop.RegisteredCount);
        first.Unregister();
        Assert.Equal(0, _loop.RegisteredCount);

        var second = _loop.Register(_eventFd, new RecordingTarget(_loop));

        Assert.Equal((uint)first.Cookie, (uint)second.Cookie);
        Assert.NotEqual(first.Cookie, second.Cookie);
        Assert.Same(_loop, second.Loop);
        second.Unregister();
    }

    private static unsafe void Increment(int eventFd)
    {
        ulong one = 1;
        Assert.Equal(sizeof(ulong), (int)Sys.write(eventFd, (byte*)&one, sizeof(ulong)));
    }

    private sealed class RecordingTarget(Loop loop) : IReadinessTarget
    {
        public TaskCompletionSource<bool> Readable { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<bool> DeadlinePassed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long DeadlineMs { get; init; }

        public void OnEvents(uint events)
        {
            if ((events & EpollIn) != 0)
            {
                Readable.TrySetResult(loop.IsLoopThread);
            }
        }

        public void OnDeadline() => DeadlinePassed.TrySetResult(loop.IsLoopThread);
    }
}
