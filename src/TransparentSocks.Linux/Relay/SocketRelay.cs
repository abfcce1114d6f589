using System.Buffers;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Relay;

/// <summary>
/// Moves bytes both ways between two connected sockets until both directions reach EOF or one fails.
/// </summary>
/// <remarks>
/// Each direction is one long-lived pump: splice(src → pipe) then splice(pipe → dst), non-blocking, parking on the
/// event loop's readiness when the kernel says EAGAIN. No managed buffer is touched per chunk and nothing is allocated
/// per chunk (the pump's state machine is pooled and lives for the session).
/// Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once the pipe has drained, and the opposite
/// direction keeps running until its own EOF.
/// Failure: the first error aborts both sockets and the other pump is awaited. Whether the client then sees an RST is
/// not decided here: the result says which side failed, and the connection pipeline applies one reset policy.
/// </remarks>
public static class SocketRelay
{
    private const uint SpliceFlags = Sys.SPLICE_F_MOVE | Sys.SPLICE_F_NONBLOCK;

    public static async Task<RelayResult> RunAsync(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters)
    {
        var idleMs = settings.IdleTimeout > TimeSpan.Zero ? (long)settings.IdleTimeout.TotalMilliseconds : 0;
        var state = new SessionState(client, upstream, idleMs);
        state.Touch();

        var upTask = PumpAsync(client, upstream, settings, counters, up: true, state);
        var downTask = PumpAsync(upstream, client, settings, counters, up: false, state);
        var up = await upTask.ConfigureAwait(false);
        var down = await downTask.ConfigureAwait(false);

        client.DeadlineMs = 0;
        upstream.DeadlineMs = 0;
        return Conclude(up, down, state, counters);
    }

    private static RelayResult Conclude(PumpResult up, PumpResult down, SessionState state, RelayCounters counters)
    {
        var spliced = up.Spliced || down.Spliced;
        var first = state.FirstFailure;
        if (first is null)
        {
            return new RelayResult(RelayOutcome.Completed, Errno.None, counters.BytesUp, counters.BytesDown, spliced);
        }

        var failure = first.Value;
        if (failure.Error == Errno.ETIMEDOUT && failure.FromDeadline)
        {
            return new RelayResult(RelayOutcome.IdleTimeout, Errno.ETIMEDOUT, counters.BytesUp, counters.BytesDown, spliced);
        }

        if (failure.Error == Errno.ECANCELED)
        {
            return new RelayResult(RelayOutcome.Aborted, Errno.ECANCELED, counters.BytesUp, counters.BytesDown, spliced);
        }

        // Which side failed is reported, not acted on: the caller closes both and decides which peer gets a reset.
        var outcome = ReferenceEquals(failure.Socket, state.Client) ? RelayOutcome.ClientError : RelayOutcome.UpstreamError;
        return new RelayResult(outcome, failure.Error, counters.BytesUp, counters.BytesDown, spliced);
    }

    // Not a frame of its own: a pump lives as long as its session, and every frame that waits holds a box for that
    // long (two per session were a tenth of an idle connection's memory).
    private static ValueTask<PumpResult> PumpAsync(
        LinuxSocket src, LinuxSocket dst, RelaySettings settings, RelayCounters counters, bool up, SessionState state)
        => settings.Mode == RelayMode.Splice
            ? SpliceAsync(src, dst, settings, counters, up, state)
            : CopyAsync(src, dst, settings.BufferSize, counters, up, state, yieldFirst: true);

    /// <remarks>
    /// The pipe is held only while bytes move: a direction about to wait for its source with an empty pipe gives
    /// the pipe back to the pool first, so an idle session holds its two sockets and no pipe (two descriptors, not
    /// six, and no pipe buffer ring in the kernel). Without a pipe to be had (the descriptor budget, EINVAL or
    /// ENOSYS from splice) the direction goes on copying through a buffer; the pipe is empty then, so no byte is
    /// left behind.
    /// </remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<PumpResult> SpliceAsync(
        LinuxSocket src, LinuxSocket dst, RelaySettings settings, RelayCounters counters, bool up, SessionState state)
    {
        // Yield once so both pumps start before either runs its first chunk inline.
        await Task.Yield();
        PipePair? pipe = null;
        var inPipe = 0;
        var eof = false;
        var moved = 0L;
        try
        {
            while (true)
            {
                if (state.HasFailed)
                {
                    return PumpResult.Stopped(spliced: true);
                }

                if (!eof && (pipe is null || inPipe < pipe.Capacity))
                {
                    if (pipe is null)
                    {
                        pipe = PipePair.Rent(settings.PipeSize, out _);
                        if (pipe is null)
                        {
                            break;
                        }
                    }

                    var tick = src.Readable.Tick;
                    var n = Sys.splice(src.Fd, 0, pipe.WriteFd, 0, (nuint)(pipe.Capacity - inPipe), SpliceFlags);
                    if (n > 0)
                    {
                        inPipe += (int)n;
                    }
                    else if (n == 0)
                    {
                        eof = true;
                    }
                    else
                    {
                        var error = Sys.LastErrno;
                        if (error == Errno.EAGAIN)
                        {
                            if (inPipe == 0)
                            {
                                pipe.Return(empty: true);
                                pipe = null;
                                var waited = await src.Readable.WaitAsync(tick).ConfigureAwait(false);
                                if (waited != Errno.None)
                                {
                                    return state.Fail(src, waited, fromDeadline: waited == Errno.ETIMEDOUT, spliced: true);
                                }

                                continue;
                            }
                        }
                        else if (error == Errno.EINTR)
                        {
                            continue;
                        }
                        else if ((error is Errno.EINVAL or Errno.ENOSYS) && moved == 0 && inPipe == 0)
                        {
                            break;
                        }
                        else
                        {
                            return state.Fail(src, error, fromDeadline: false, spliced: true);
                        }
                    }
                }

                if (inPipe > 0)
                {
                    var tick = dst.Writable.Tick;
                    var m = Sys.splice(pipe!.ReadFd, 0, dst.Fd, 0, (nuint)inPipe, SpliceFlags);
                    if (m > 0)
                    {
                        inPipe -= (int)m;
                        moved += m;
                        if (up)
                        {
                            counters.AddUp(m);
                        }
                        else
                        {
                            counters.AddDown(m);
                        }

                        state.Touch();
                        continue;
                    }

                    var error = Sys.LastErrno;
                    if (error == Errno.EAGAIN)
                    {
                        var waited = await dst.Writable.WaitAsync(tick).ConfigureAwait(false);
                        if (waited != Errno.None)
                        {
                            return state.Fail(dst, waited, fromDeadline: waited == Errno.ETIMEDOUT, spliced: true);
                        }

                        continue;
                    }

                    if (error != Errno.EINTR)
                    {
                        return state.Fail(dst, error, fromDeadline: false, spliced: true);
                    }

                    continue;
                }

                if (eof)
                {
                    _ = dst.Shutdown(SocketShutdown.Send);
                    return PumpResult.Done(spliced: true);
                }
            }
        }
        finally
        {
            pipe?.Return(empty: inPipe == 0);
        }

        // Only reached with the pipe empty and given back: no pipe to be had, or splice refused these sockets.
        var copied = await CopyAsync(src, dst, settings.BufferSize, counters, up, state, yieldFirst: false).ConfigureAwait(false);
        return moved > 0 ? copied.AfterSplicing() : copied;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<PumpResult> CopyAsync(
        LinuxSocket src, LinuxSocket dst, int bufferSize, RelayCounters counters, bool up, SessionState state, bool yieldFirst)
    {
        if (yieldFirst)
        {
            await Task.Yield();
        }

        // Like the pipe, the buffer is held only while bytes move: an idle direction gives it back before it waits,
        // so a copying session costs no 64 KiB per direction while it is quiet.
        byte[]? buffer = null;
        try
        {
            while (true)
            {
                if (state.HasFailed)
                {
                    return PumpResult.Stopped(spliced: false);
                }

                buffer ??= ArrayPool<byte>.Shared.Rent(bufferSize);
                var tick = src.Readable.Tick;
                var read = src.TryReceive(buffer);
                if (read.HasError)
                {
                    if (read.Error == Errno.EAGAIN)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = null;
                        var waited = await src.Readable.WaitAsync(tick).ConfigureAwait(false);
                        if (waited != Errno.None)
                        {
                            return state.Fail(src, waited, fromDeadline: waited == Errno.ETIMEDOUT, spliced: false);
                        }
                    }
                    else if (read.Error != Errno.EINTR)
                    {
                        return state.Fail(src, read.Error, fromDeadline: false, spliced: false);
                    }

                    continue;
                }

                if (read.Bytes == 0)
                {
                    _ = dst.Shutdown(SocketShutdown.Send);
                    return PumpResult.Done(spliced: false);
                }

                var sent = 0;
                while (sent < read.Bytes)
                {
                    var wtick = dst.Writable.Tick;
                    var write = dst.TrySend(buffer.AsSpan(sent, read.Bytes - sent));
                    if (!write.HasError)
                    {
                        sent += write.Bytes;
                        continue;
                    }

                    if (write.Error == Errno.EAGAIN)
                    {
                        var waited = await dst.Writable.WaitAsync(wtick).ConfigureAwait(false);
                        if (waited != Errno.None)
                        {
                            return state.Fail(dst, waited, fromDeadline: waited == Errno.ETIMEDOUT, spliced: false);
                        }
                    }
                    else if (write.Error != Errno.EINTR)
                    {
                        return state.Fail(dst, write.Error, fromDeadline: false, spliced: false);
                    }
                }

                if (up)
                {
                    counters.AddUp(read.Bytes);
                }
                else
                {
                    counters.AddDown(read.Bytes);
                }

                state.Touch();
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private readonly record struct Failure(LinuxSocket Socket, Errno Error, bool FromDeadline);

    private readonly struct PumpResult
    {
        private PumpResult(bool spliced)
        {
            Spliced = spliced;
        }

        public bool Spliced { get; }

        public static PumpResult Done(bool spliced) => new(spliced);

        public static PumpResult Stopped(bool spliced) => new(spliced);

        /// <summary>The same ending, for a direction that spliced before it fell back to copying.</summary>
        public PumpResult AfterSplicing() => new(spliced: true);
    }

    /// <summary>What both pumps of one session share: the sockets, the idle deadline and the first failure.</summary>
    private sealed class SessionState(LinuxSocket client, LinuxSocket upstream, long idleMs)
    {
        private readonly long _idleMs = idleMs;
        private readonly Lock _lock = new();
        private Failure? _firstFailure;
        private volatile bool _failed;

        public LinuxSocket Client { get; } = client;

        public LinuxSocket Upstream { get; } = upstream;

        /// <summary>Checked by the pumps every chunk, so it is a volatile flag rather than the locked record.</summary>
        public bool HasFailed => _failed;

        public Failure? FirstFailure
        {
            get
            {
                lock (_lock)
                {
                    return _firstFailure;
                }
            }
        }

        public void Touch()
        {
            if (_idleMs > 0)
            {
                var deadline = Environment.TickCount64 + _idleMs;
                Client.DeadlineMs = deadline;
                Upstream.DeadlineMs = deadline;
            }
        }

        public PumpResult Fail(LinuxSocket socket, Errno error, bool fromDeadline, bool spliced)
        {
            bool first;
            lock (_lock)
            {
                first = _firstFailure is null;
                if (first)
                {
                    _firstFailure = new Failure(socket, error, fromDeadline);
                    _failed = true;
                }
            }

            if (first)
            {
                // Wake the other pump wherever it is parked; it sees the failure and returns.
                var abortWith = error == Errno.ETIMEDOUT && fromDeadline ? Errno.ETIMEDOUT : Errno.ECANCELED;
                Client.Abort(abortWith);
                Upstream.Abort(abortWith);
            }

            return PumpResult.Stopped(spliced);
        }
    }
}
