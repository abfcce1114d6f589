namespace TransparentSocks.Linux.EventLoop;

/// <summary>What an <see cref="EventLoop"/> drives for one registered fd. It is called on the loop's thread.</summary>
internal interface IReadinessTarget
{
    /// <summary>Tick count (ms) at which the loop calls <see cref="OnDeadline"/>; 0 = none.</summary>
    long DeadlineMs { get; }

    /// <summary>The epoll event bits of one edge for the registered fd.</summary>
    void OnEvents(uint events);

    /// <summary>The loop's sweep found <see cref="DeadlineMs"/> passed.</summary>
    void OnDeadline();

    /// <summary>A wake-up asked for with <see cref="EventLoop.ScheduleWake"/> is due at <paramref name="now"/>.</summary>
    void OnWake(long now)
    {
    }
}
