using System.Runtime.InteropServices;
using Tmds.Linux;
using TransparentSocks.Linux.Interop;
using static Tmds.Linux.LibC;

namespace TransparentSocks.Linux.EventLoop;

/// <summary>
/// One epoll instance and the thread that waits on it. Fds are registered once, edge-triggered, for read and
/// write readiness; events are routed to their <see cref="IReadinessTarget"/> through a slot table (index +
/// generation in the epoll cookie), which is an O(1) lookup and ignores stale events for a slot that was reused.
/// The same thread sweeps deadlines (handshake and idle timeouts) a few times per second, and runs wake-ups
/// (<see cref="ScheduleWake"/>) on time, for waits whose length a user sets in milliseconds.
/// </summary>
public sealed unsafe class EventLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int SweepIntervalMs = 200;
    private const ulong WakeCookie = ulong.MaxValue;

    private readonly int _epfd;
    private readonly int _wakeFd;
    private readonly Thread _thread;
    private readonly Lock _slotLock = new();
    private readonly Stack<int> _freeSlots = new();
    private IReadinessTarget?[] _slots = new IReadinessTarget?[256];

    // The cookie of each slot's current holder. Written before the holder is published in _slots (and, on growth,
    // published before _slots), so the loop thread, which reads _slots first, never pairs a holder with an older cookie.
    private ulong[] _cookies = new ulong[256];
    private int _slotCount;
    private int _registered;
    private volatile bool _stopping;

    // Wake-ups by time, earliest first: each costs O(log n) to add and to run, and only the due ones are visited (a
    // scan of every slot per wake-up would let a client that delays its first byte make the loop walk the table).
    // A cancelled one stays until its time and is then skipped by its target. _nextWakeMs mirrors the heap's head
    // for the loop to read without the lock (MaxValue: none); _plannedWakeMs is when the current epoll_wait returns
    // at the latest, and a wake-up before it needs the eventfd.
    private readonly PriorityQueue<IReadinessTarget, long> _wakes = new();
    private readonly Lock _wakeLock = new();
    private readonly List<IReadinessTarget> _due = [];
    private long _nextWakeMs = long.MaxValue;
    private long _plannedWakeMs;

    public EventLoop(string name)
    {
        Name = name;
        _epfd = epoll_create1(EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw new InvalidOperationException($"epoll_create1 failed: {(Errno)errno}");
        }

        _wakeFd = Sys.eventfd(0, Sys.EFD_NONBLOCK | Sys.EFD_CLOEXEC);
        if (_wakeFd < 0)
        {
            var e = Sys.LastErrno;
            Sys.close(_epfd);
            throw new InvalidOperationException($"eventfd failed: {e}");
        }

        var ev = default(epoll_event);
        ev.events = EPOLLIN;
        ev.data.u64 = WakeCookie;
        _ = epoll_ctl(_epfd, EPOLL_CTL_ADD, _wakeFd, &ev);

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public string Name { get; }

    /// <summary>Fds currently registered on this loop.</summary>
    public int RegisteredCount => Volatile.Read(ref _registered);

    public bool IsLoopThread => Thread.CurrentThread == _thread;

    /// <summary>Adds <paramref name="fd"/> to the epoll set; its events go to <paramref name="target"/> until unregistered.</summary>
    internal Registration Register(int fd, IReadinessTarget target, bool readOnly = false)
    {
        ulong cookie;
        lock (_slotLock)
        {
            if (!_freeSlots.TryPop(out var index))
            {
                if (_slotCount == _slots.Length)
                {
                    var cookies = new ulong[_slots.Length * 2];
                    Array.Copy(_cookies, cookies, _slots.Length);
                    Volatile.Write(ref _cookies, cookies);
                    var grown = new IReadinessTarget?[_slots.Length * 2];
                    Array.Copy(_slots, grown, _slots.Length);
                    Volatile.Write(ref _slots, grown);
                }

                index = _slotCount++;
            }

            var generation = (uint)(_cookies[index] >> 32) + 1;
            cookie = ((ulong)generation << 32) | (uint)index;
            _cookies[index] = cookie;
            Volatile.Write(ref _slots[index], target);
            _registered++;
        }

        var ev = default(epoll_event);
        // A UDP socket never waits to send (a datagram that does not fit is dropped), so its write edges would only wake the loop.
        ev.events = readOnly ? EPOLLIN | EPOLLET : EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = cookie;
        if (epoll_ctl(_epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        {
            var error = (Errno)errno;
            Release(cookie);
            throw new InvalidOperationException($"epoll_ctl(ADD) failed: {error}");
        }

        return new Registration(this, fd, cookie);
    }

    internal void Unregister(int fd, ulong cookie)
    {
        // Closing the fd removes it from the epoll set as well; the explicit DEL keeps that true even if the fd was dup'ed.
        _ = epoll_ctl(_epfd, EPOLL_CTL_DEL, fd, null);
        Release(cookie);
    }

    internal void Release(ulong cookie)
    {
        var index = (int)(uint)cookie;
        lock (_slotLock)
        {
            if (_cookies[index] == cookie && _slots[index] is not null)
            {
                _slots[index] = null;
                _freeSlots.Push(index);
                _registered--;
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="target"/>'s <see cref="IReadinessTarget.OnWake"/> at <paramref name="atMs"/> (tick count),
    /// to the millisecond; the target decides then whether the wake-up still stands. Costs a syscall only when asked
    /// off the loop thread for a time before the loop's next planned return (with a sniff timeout of 200 ms or more,
    /// rarely: the loop returns at least every sweep).
    /// </summary>
    internal void ScheduleWake(IReadinessTarget target, long atMs)
    {
        lock (_wakeLock)
        {
            _wakes.Enqueue(target, atMs);
            if (atMs < _nextWakeMs)
            {
                Interlocked.Exchange(ref _nextWakeMs, atMs);
            }
        }

        // Both sides fence (the exchange above, the one in PlanWait) before reading the other's word, so either the
        // loop sees this wake-up when it plans its wait, or this sees the plan and wakes the loop.
        if (!IsLoopThread && atMs < Volatile.Read(ref _plannedWakeMs))
        {
            ulong one = 1;
            Sys.write(_wakeFd, (byte*)&one, sizeof(ulong));
        }
    }

    /// <summary>The epoll_wait timeout: until the next sweep or wake-up, whichever comes first.</summary>
    private int PlanWait(long now, long nextSweep)
    {
        while (true)
        {
            var wake = Volatile.Read(ref _nextWakeMs);
            var until = Math.Min(nextSweep, wake);
            Interlocked.Exchange(ref _plannedWakeMs, until);
            if (Volatile.Read(ref _nextWakeMs) >= wake)
            {
                return (int)Math.Clamp(until - now, 0, SweepIntervalMs);
            }
        }
    }

    private void RunWakes(long now)
    {
        // Taken out under the lock, run outside it: a target's wake-up resumes a waiter inline, which may ask for another.
        lock (_wakeLock)
        {
            while (_wakes.TryPeek(out var target, out var at) && at <= now)
            {
                _wakes.Dequeue();
                _due.Add(target);
            }

            Interlocked.Exchange(ref _nextWakeMs, _wakes.TryPeek(out _, out var next) ? next : long.MaxValue);
        }

        foreach (var target in _due)
        {
            target.OnWake(now);
        }

        _due.Clear();
    }

    private void Run()
    {
        var events = (epoll_event*)NativeMemory.Alloc((nuint)(MaxEvents * sizeof(epoll_event)));
        var nextSweep = Environment.TickCount64 + SweepIntervalMs;
        try
        {
            while (!_stopping)
            {
                var n = epoll_wait(_epfd, events, MaxEvents, PlanWait(Environment.TickCount64, nextSweep));
                if (n < 0)
                {
                    if ((Errno)errno == Errno.EINTR)
                    {
                        continue;
                    }

                    break;
                }

                for (var i = 0; i < n; i++)
                {
                    Dispatch(events[i].data.u64, (uint)events[i].events);
                }

                var now = Environment.TickCount64;
                if (now >= Volatile.Read(ref _nextWakeMs))
                {
                    RunWakes(now);
                }

                if (now >= nextSweep)
                {
                    nextSweep = now + SweepIntervalMs;
                    SweepDeadlines(now);
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    private void Dispatch(ulong cookie, uint events)
    {
        if (cookie == WakeCookie)
        {
            ulong value;
            Sys.read(_wakeFd, (byte*)&value, sizeof(ulong));
            return;
        }

        var slots = Volatile.Read(ref _slots);
        var index = (int)(uint)cookie;
        if ((uint)index >= (uint)slots.Length)
        {
            return;
        }

        var target = Volatile.Read(ref slots[index]);
        if (target is null || Volatile.Read(ref _cookies)[index] != cookie)
        {
            return;
        }

        target.OnEvents(events);
    }

    private void SweepDeadlines(long now)
    {
        var slots = Volatile.Read(ref _slots);
        for (var i = 0; i < slots.Length; i++)
        {
            var target = Volatile.Read(ref slots[i]);
            if (target is not null)
            {
                var deadline = target.DeadlineMs;
                if (deadline != 0 && now >= deadline)
                {
                    target.OnDeadline();
                }
            }
        }
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        ulong one = 1;
        Sys.write(_wakeFd, (byte*)&one, sizeof(ulong));
        if (!IsLoopThread)
        {
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        Sys.close(_wakeFd);
        Sys.close(_epfd);
    }
}
