using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Tmds.Linux;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using static Tmds.Linux.LibC;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// A non-blocking TCP socket owned by one <see cref="Loop"/>. Operations return <see cref="SocketResult"/>
/// values instead of throwing. At most one receive-side and one send-side operation may be pending at once,
/// and the owner must not <see cref="Dispose"/> while an operation is in flight: <see cref="Abort"/> first,
/// await the operations, then dispose. That rule is what makes the raw fd safe from reuse races.
/// </summary>
public sealed class LinuxSocket : IDisposable, IReadinessTarget
{
    private readonly Registration _registration;
    private int _fd;
    private long _deadlineMs;
    private long _wakeMs;
    private Action? _closed;

    private LinuxSocket(int fd, Loop loop)
    {
        _fd = fd;
        _registration = loop.Register(fd, this);
    }

    public int Fd => _fd;

    public Loop Loop => _registration.Loop;

    /// <summary><see cref="WritableTick"/> before a socket has been waited on for writability.</summary>
    public const int NoTick = -1;

    private Readiness? _writable;

    public Readiness Readable { get; } = new();

    /// <summary>
    /// Created on first use: most sockets never wait to write (a client's replies and relayed bytes fit its send
    /// buffer), and an idle session would hold one more object per socket for hours.
    /// </summary>
    public Readiness Writable => Volatile.Read(ref _writable) ?? CreateWritable();

    /// <summary>
    /// <see cref="Writable"/>'s tick, or <see cref="NoTick"/> while it does not exist, for a sender that snapshots it
    /// before a send and must not create it for a send that succeeds. A send that fails with EAGAIN after
    /// <see cref="NoTick"/> calls <see cref="EnsureWritable"/> and tries again with a real snapshot: a wake-up before
    /// the readiness existed had no one to wake, and the second try sees the room it announced.
    /// </summary>
    public int WritableTick => Volatile.Read(ref _writable)?.Tick ?? NoTick;

    public void EnsureWritable() => _ = Writable;

    private Readiness CreateWritable()
    {
        var created = new Readiness(Readable.AbortError);
        var writable = Interlocked.CompareExchange(ref _writable, created, null) ?? created;

        // An Abort between the read of its error above and the publish did not see this direction; it gets it now.
        // (Abort sets Readable's error before it looks for Writable, so one of the two always sees the other.)
        if (Readable.AbortError is var aborted && aborted != Errno.None)
        {
            writable.Abort(aborted);
        }

        return writable;
    }

    /// <summary>Tick count (ms) after which the loop aborts this socket with ETIMEDOUT; 0 = none.</summary>
    public long DeadlineMs
    {
        get => Volatile.Read(ref _deadlineMs);
        set => Volatile.Write(ref _deadlineMs, value);
    }

    public bool IsAborted => Readable.AbortError != Errno.None;

    /// <summary>Called once when the socket closes: a group's count of what is open through one upstream.</summary>
    public Action? Closed
    {
        get => Volatile.Read(ref _closed);
        set => Volatile.Write(ref _closed, value);
    }

    /// <summary>
    /// Signals <see cref="Readable"/> once at <paramref name="atMs"/> (tick count), without aborting anything: a
    /// receive that waits for at most a while (the sniff step) wakes, finds nothing, and sees its time is up.
    /// </summary>
    public void WakeReadableAt(long atMs)
    {
        Volatile.Write(ref _wakeMs, atMs);
        Loop.ScheduleWake(this, atMs);
    }

    /// <summary>Cancels <see cref="WakeReadableAt"/>; when its time comes the socket ignores it.</summary>
    public void CancelWake() => Volatile.Write(ref _wakeMs, 0);

    void IReadinessTarget.OnWake(long now)
    {
        // Only the wake-up still armed is due: one cancelled, or moved later, since it was asked for is not.
        var wake = Volatile.Read(ref _wakeMs);
        if (wake != 0 && now >= wake && Interlocked.CompareExchange(ref _wakeMs, 0, wake) == wake)
        {
            Readable.Signal();
        }
    }

    public void SetTimeout(TimeSpan? timeout)
        => DeadlineMs = timeout is { } t && t > TimeSpan.Zero ? Environment.TickCount64 + (long)t.TotalMilliseconds : 0;

    public static LinuxSocket Create(AddressFamily family, Loop loop)
    {
        var error = TryCreate(family, loop, out var created);
        return error == Errno.None ? created! : throw new SocketException((int)error.ToSocketError(), $"socket(): {error.Describe()}");
    }

    /// <summary>Like <see cref="Create"/>, but returns the errno (EMFILE under fd exhaustion) instead of throwing.</summary>
    public static Errno TryCreate(AddressFamily family, Loop loop, out LinuxSocket? created)
    {
        // Past the budget the process itself would be next to run out; the caller sees the errno that is coming.
        if (!FdBudget.TryTake(1))
        {
            created = null;
            return Errno.EMFILE;
        }

        var af = family == AddressFamily.InterNetworkV6 ? SockAddr.AF_INET6 : SockAddr.AF_INET;
        var fd = socket(af, SOCK_STREAM | Sys.SOCK_NONBLOCK | Sys.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            var error = (Errno)errno;
            FdBudget.Release(1);
            created = null;
            return error;
        }

        created = new LinuxSocket(fd, loop);
        return Errno.None;
    }

    /// <summary>Wraps an fd the caller already owns (for example one accepted elsewhere). The fd is made non-blocking.</summary>
    public static LinuxSocket Adopt(int fd, Loop loop, bool alreadyNonBlocking = false)
    {
        // It exists already, so it is counted whether or not it fits; its close gives it back like any other.
        FdBudget.Add(1);
        if (!alreadyNonBlocking)
        {
            var flags = fcntl(fd, F_GETFL, 0);
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        }

        return new LinuxSocket(fd, loop);
    }

    public static unsafe LinuxSocket Listen(IPEndPoint endPoint, Loop loop, int backlog = 4096, Action<LinuxSocket>? beforeBind = null)
    {
        var socket = Create(endPoint.AddressFamily, loop);
        try
        {
            socket.SetOption(SocketOptions.SOL_SOCKET, SocketOptions.SO_REUSEADDR, 1);
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // A v6 listener serves v6 only; v4 gets its own listener, so the two are configured independently.
                socket.SetOption(SocketOptions.IPPROTO_IPV6, SocketOptions.IPV6_V6ONLY, 1);
            }

            beforeBind?.Invoke(socket);
            var sa = stackalloc byte[SockAddr.MaxLength];
            var len = SockAddr.Write(endPoint, new Span<byte>(sa, SockAddr.MaxLength));
            if (bind(socket._fd, (sockaddr*)sa, (uint)len) != 0)
            {
                var e = (Errno)errno;
                throw new SocketException((int)e.ToSocketError(), $"bind {endPoint}: {e.Describe()}");
            }

            if (listen(socket._fd, backlog) != 0)
            {
                var e = (Errno)errno;
                throw new SocketException((int)e.ToSocketError(), $"listen {endPoint}: {e.Describe()}");
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    void IReadinessTarget.OnEvents(uint events)
    {
        const uint readMask = 0x001 /* IN */ | 0x2000 /* RDHUP */ | 0x010 /* HUP */ | 0x008 /* ERR */;
        const uint writeMask = 0x004 /* OUT */ | 0x010 /* HUP */ | 0x008 /* ERR */;
        if ((events & readMask) != 0)
        {
            Readable.Signal();
        }

        if ((events & writeMask) != 0)
        {
            Volatile.Read(ref _writable)?.Signal();
        }
    }

    void IReadinessTarget.OnDeadline() => Abort(Errno.ETIMEDOUT);

    /// <summary>Fails every pending and future wait with <paramref name="error"/>; the fd stays open until Dispose.</summary>
    public void Abort(Errno error)
    {
        Readable.Abort(error);
        Volatile.Read(ref _writable)?.Abort(error);
    }

    // ---- accept / connect ----

    public readonly struct AcceptResult
    {
        public AcceptResult(int fd, IPEndPoint? remote, Errno error)
        {
            Fd = fd;
            Remote = remote;
            Error = error;
        }

        public int Fd { get; }

        public IPEndPoint? Remote { get; }

        public Errno Error { get; }
    }

    /// <summary>Accepts one connection; the new fd is non-blocking and close-on-exec, and is not yet registered with any loop.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<AcceptResult> AcceptAsync()
    {
        var buffer = new byte[SockAddr.MaxLength];
        while (true)
        {
            var tick = Readable.Tick;
            var fd = TryAccept(buffer, out var error);
            if (fd >= 0)
            {
                return new AcceptResult(fd, SockAddr.Read(buffer), Errno.None);
            }

            if (error == Errno.EINTR || error == Errno.ECONNABORTED)
            {
                continue;
            }

            if (error != Errno.EAGAIN)
            {
                return new AcceptResult(-1, null, error);
            }

            var waited = await Readable.WaitAsync(tick).ConfigureAwait(false);
            if (waited != Errno.None)
            {
                return new AcceptResult(-1, null, waited);
            }
        }
    }

    private unsafe int TryAccept(byte[] addr, out Errno error)
    {
        fixed (byte* p = addr)
        {
            var len = (uint)addr.Length;
            var fd = Sys.accept4(_fd, p, &len, Sys.SOCK_NONBLOCK | Sys.SOCK_CLOEXEC);
            error = fd < 0 ? Sys.LastErrno : Errno.None;
            return fd;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<Errno> ConnectAsync(IPEndPoint endPoint)
    {
        var tick = Writable.Tick;
        var error = BeginConnect(endPoint);
        while (error == Errno.EINPROGRESS)
        {
            var waited = await Writable.WaitAsync(tick).ConfigureAwait(false);
            if (waited != Errno.None)
            {
                return waited;
            }

            tick = Writable.Tick;
            error = ConnectProgress();
        }

        return error;
    }

    /// <summary>
    /// Starts a non-blocking connect: None when it connected at once, EINPROGRESS while it runs (wait for
    /// <see cref="Writable"/>, read its tick first, then ask <see cref="ConnectProgress"/>), or the failure.
    /// For callers that wait in their own frame instead of one more per connection.
    /// </summary>
    public unsafe Errno BeginConnect(IPEndPoint endPoint)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        var len = SockAddr.Write(endPoint, new Span<byte>(sa, SockAddr.MaxLength));
        if (Sys.connect(_fd, sa, (uint)len) == 0)
        {
            return Errno.None;
        }

        var error = Sys.LastErrno;
        return error == Errno.EINTR ? Errno.EINPROGRESS : error;
    }

    /// <summary>
    /// A connect's state after a wake-up: None once connected, its error when it failed, EINPROGRESS while it still
    /// runs. Wake-ups can be spurious (the registration itself reports an edge), so completion is confirmed by
    /// getpeername and the verdict read from SO_ERROR.
    /// </summary>
    public unsafe Errno ConnectProgress()
    {
        var soError = GetOption(SocketOptions.SOL_SOCKET, SocketOptions.SO_ERROR);
        if (soError != 0)
        {
            return (Errno)soError;
        }

        var sa = stackalloc byte[SockAddr.MaxLength];
        socklen_t len = SockAddr.MaxLength;
        return getpeername(_fd, (sockaddr*)sa, &len) == 0 ? Errno.None : Errno.EINPROGRESS;
    }

    // ---- receive / send (handshake path; the relay drives the fd directly) ----

    public unsafe SocketResult TryReceive(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var n = Sys.recv(_fd, p, (nuint)buffer.Length, 0);
            return n >= 0 ? SocketResult.Ok((int)n) : SocketResult.Fail(Sys.LastErrno);
        }
    }

    public unsafe SocketResult TrySend(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            var n = Sys.send(_fd, p, (nuint)buffer.Length, Sys.MSG_NOSIGNAL);
            return n >= 0 ? SocketResult.Ok((int)n) : SocketResult.Fail(Sys.LastErrno);
        }
    }

    /// <summary>Receives what is available (at least one byte), 0 at EOF.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SocketResult> ReceiveAsync(Memory<byte> buffer)
    {
        while (true)
        {
            var tick = Readable.Tick;
            var result = TryReceive(buffer.Span);
            if (!result.HasError || (result.Error != Errno.EAGAIN && result.Error != Errno.EINTR))
            {
                return result;
            }

            var waited = await Readable.WaitAsync(tick).ConfigureAwait(false);
            if (waited != Errno.None)
            {
                return SocketResult.Fail(waited);
            }
        }
    }

    /// <summary>Sends the whole buffer.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SocketResult> SendAsync(ReadOnlyMemory<byte> buffer)
    {
        var sent = 0;
        while (sent < buffer.Length)
        {
            var tick = WritableTick;
            var result = TrySend(buffer.Span[sent..]);
            if (!result.HasError)
            {
                sent += result.Bytes;
                continue;
            }

            if (result.Error != Errno.EAGAIN && result.Error != Errno.EINTR)
            {
                return result;
            }

            if (tick == NoTick)
            {
                EnsureWritable();
                continue;
            }

            var waited = await Writable.WaitAsync(tick).ConfigureAwait(false);
            if (waited != Errno.None)
            {
                return SocketResult.Fail(waited);
            }
        }

        return SocketResult.Ok(sent);
    }

    // ---- options ----

    public Errno Shutdown(SocketShutdown how)
        => Sys.shutdown(_fd, how switch { SocketShutdown.Receive => Sys.SHUT_RD, SocketShutdown.Send => Sys.SHUT_WR, _ => Sys.SHUT_RDWR }) == 0
            ? Errno.None
            : Sys.LastErrno;

    public Errno SetOption(int level, int name, int value) => SocketOptions.Set(_fd, level, name, value);

    /// <summary>SO_REUSEPORT, before bind: listeners of one user on one port share its connections, kernel-balanced.</summary>
    public Errno SetReusePort() => SocketOptions.Set(_fd, SocketOptions.SOL_SOCKET, SocketOptions.SO_REUSEPORT, 1);

    public int GetOption(int level, int name) => SocketOptions.Get(_fd, level, name);

    public Errno SetNoDelay(bool on = true) => SetOption(SocketOptions.IPPROTO_TCP, SocketOptions.TCP_NODELAY, on ? 1 : 0);

    public Errno SetKeepAlive(bool on = true) => SetOption(SocketOptions.SOL_SOCKET, SocketOptions.SO_KEEPALIVE, on ? 1 : 0);

    /// <summary>SO_MARK, so policy routing and nft can recognise (and skip) the proxy's own traffic. Needs CAP_NET_ADMIN.</summary>
    public Errno SetMark(uint mark) => SocketOptions.SetMark(_fd, mark);

    /// <summary>Makes the next close send RST instead of FIN, to pass a peer's reset on.</summary>
    public unsafe Errno SetLingerZero()
    {
        var l = default(linger);
        l.l_onoff = 1;
        l.l_linger = 0;
        return setsockopt(_fd, SocketOptions.SOL_SOCKET, SocketOptions.SO_LINGER, &l, (socklen_t)sizeof(linger)) == 0 ? Errno.None : (Errno)errno;
    }

    /// <summary>IP_TRANSPARENT / IPV6_TRANSPARENT: lets a TPROXY listener accept connections addressed to anyone. Needs CAP_NET_ADMIN.</summary>
    public Errno SetTransparent(AddressFamily family) => SocketOptions.SetTransparent(_fd, family);

    /// <summary>
    /// SO_BINDTODEVICE: the socket only sees traffic of that interface. A listener bound this way is what TPROXY's
    /// socket lookup (which passes the ingress device) and REDIRECT's local delivery pick for that interface alone,
    /// so an accepted connection knows its ingress interface by the listener that accepted it.
    /// </summary>
    public Errno SetBindToDevice(string interfaceName) => SocketOptions.SetBindToDevice(_fd, interfaceName);

    /// <summary>
    /// The destination a REDIRECT (nat) rule rewrote: SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST from conntrack.
    /// ENOENT means the connection was not redirected (someone connected to the listener directly).
    /// </summary>
    public unsafe IPEndPoint? GetOriginalDestination(AddressFamily family, out Errno error)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        socklen_t len = SockAddr.MaxLength;
        var rc = family == AddressFamily.InterNetworkV6
            ? getsockopt(_fd, SocketOptions.IPPROTO_IPV6, SocketOptions.IP6T_SO_ORIGINAL_DST, sa, &len)
            : getsockopt(_fd, SocketOptions.SOL_IP, SocketOptions.SO_ORIGINAL_DST, sa, &len);
        if (rc != 0)
        {
            error = (Errno)errno;
            return null;
        }

        error = Errno.None;
        return SockAddr.Read(new ReadOnlySpan<byte>(sa, (int)len));
    }

    public unsafe IPEndPoint? GetLocalEndPoint()
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        socklen_t len = SockAddr.MaxLength;
        return getsockname(_fd, (sockaddr*)sa, &len) == 0 ? SockAddr.Read(new ReadOnlySpan<byte>(sa, (int)len)) : null;
    }

    public unsafe IPEndPoint? GetRemoteEndPoint()
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        socklen_t len = SockAddr.MaxLength;
        return getpeername(_fd, (sockaddr*)sa, &len) == 0 ? SockAddr.Read(new ReadOnlySpan<byte>(sa, (int)len)) : null;
    }

    /// <summary>Closes the fd. With <paramref name="reset"/>, the peer gets RST.</summary>
    public unsafe void Close(bool reset)
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0)
        {
            return;
        }

        if (reset)
        {
            var l = default(linger);
            l.l_onoff = 1;
            l.l_linger = 0;
            _ = setsockopt(fd, SocketOptions.SOL_SOCKET, SocketOptions.SO_LINGER, &l, (socklen_t)sizeof(linger));
        }

        DeadlineMs = 0;
        _registration.ReleaseForClose();
        Sys.close(fd);
        FdBudget.Release(1);
        Abort(Errno.ECANCELED);
        Interlocked.Exchange(ref _closed, null)?.Invoke();
    }

    public void Dispose() => Close(reset: false);
}
