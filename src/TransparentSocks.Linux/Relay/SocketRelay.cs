using System.Buffers;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
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
/// per chunk. The pumps are not async methods but one object per session whose directions park a callback on the
/// readiness they wait for: an async pump holds its state machine box for as long as it waits, and an idle session
/// waits for its whole life (two boxes and the frame awaiting them were a third of an idle connection's memory).
/// Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once the pipe has drained, and the opposite
/// direction keeps running until its own EOF.
/// Failure: the first error aborts both sockets and the other pump is awaited. Whether the client then sees an RST is
/// not decided here: the result says which side failed, and the connection pipeline applies one reset policy.
/// </remarks>
public static class SocketRelay
{
    private const uint SpliceFlags = Sys.SPLICE_F_MOVE | Sys.SPLICE_F_NONBLOCK;

    /// <summary>
    /// Starts relaying; <paramref name="completion"/> is told the result once both directions have ended, on the thread
    /// that ended the last of them. A callback rather than a task: whoever waits for a relay waits for the session's
    /// whole life, and an awaiting frame (or the task's own completion core) was the largest object of an idle session.
    /// </summary>
    public static void Start(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters, IRelayCompletion completion)
        => new Relay(client, upstream, settings, counters, completion).Start();

    /// <summary>The whole relay in one await, for callers that do not hold it for hours.</summary>
    public static ValueTask<RelayResult> RunAsync(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters)
    {
        var awaited = new AwaitedRelay();
        Start(client, upstream, settings, counters, awaited);
        return new ValueTask<RelayResult>(awaited.Task);
    }

    private sealed class AwaitedRelay : TaskCompletionSource<RelayResult>, IRelayCompletion
    {
        public AwaitedRelay()
            : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
        }

        public void RelayEnded(in RelayResult result) => SetResult(result);
    }

    /// <summary>Where one direction stands between two of its callbacks.</summary>
    internal struct Direction
    {
        /// <summary>The pipe, held only while bytes move (see <see cref="Relay.RunSplice"/>).</summary>
        public PipePair? Pipe;

        /// <summary>The copy buffer, held only while bytes move.</summary>
        public byte[]? Buffer;

        public long Moved;
        public int InPipe;
        public int Filled;
        public int Sent;
        public bool Eof;

        /// <summary>Parked on the destination's <see cref="LinuxSocket.Writable"/>, else (when parked) on the source's Readable.</summary>
        public bool WaitsToWrite;

        /// <summary>Copying through <see cref="Buffer"/> now: the relay runs in copy mode, or this direction fell back to it.</summary>
        public bool Copying;

        /// <summary>
        /// Moved bytes by splice at some point. Not derivable from <see cref="Copying"/>: a direction that spliced and
        /// then fell back to copying keeps it, and the session's result reports that splice carried it.
        /// </summary>
        public bool Spliced;
    }

    /// <summary>Both directions of one session, the idle deadline, the first failure, and the session's result.</summary>
    internal sealed class Relay
    {
        private static readonly Action<object?> ResumeUp = static s => ((Relay)s!).Resume(up: true);
        private static readonly Action<object?> ResumeDown = static s => ((Relay)s!).Resume(up: false);

        private readonly LinuxSocket _client;
        private readonly LinuxSocket _upstream;
        private readonly RelaySettings _settings;
        private readonly RelayCounters _counters;
        private readonly IRelayCompletion _completion;
        private Direction _up;
        private Direction _down;
        private int _running = 2;

        // The first failure: written once by the direction that wins _failed, read after both directions ended.
        private int _failed;
        private LinuxSocket? _failedSocket;
        private Errno _failedError;
        private bool _failedFromDeadline;

        public Relay(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters, IRelayCompletion completion)
        {
            _client = client;
            _upstream = upstream;
            _settings = settings;
            _counters = counters;
            _completion = completion;
            var splice = settings.Mode == RelayMode.Splice;
            _up.Copying = _down.Copying = !splice;
            _up.Spliced = _down.Spliced = splice;
        }

        private bool HasFailed => Volatile.Read(ref _failed) != 0;

        public void Start()
        {
            Touch();

            // Both directions start here, on the caller's thread (the event loop that saw the dial's last reply), one
            // after the other: each runs until its source or its destination has nothing more for now, which for a
            // new session is at most a socket buffer or two, and then parks like any resumed direction. Queued to the
            // pool instead, every connection paid two work items and the wake-ups of pool threads (perf, short
            // connections: about 9 % of the host's CPU samples were pool threads splicing, spinning, yielding and
            // switching, against 31 % for the proxy's event loops).
            Run(up: true);
            Run(up: false);
        }

        private void Resume(bool up)
        {
            ref var d = ref up ? ref _up : ref _down;
            var (src, dst) = up ? (_client, _upstream) : (_upstream, _client);
            var waitedOn = d.WaitsToWrite ? dst : src;
            var waited = (d.WaitsToWrite ? dst.Writable : src.Readable).TakeResult();
            if (waited != Errno.None)
            {
                Fail(waitedOn, waited, fromDeadline: waited == Errno.ETIMEDOUT);
                End(ref d);
                return;
            }

            Run(up);
        }

        private void Run(bool up)
        {
            ref var d = ref up ? ref _up : ref _down;
            var (src, dst) = up ? (_client, _upstream) : (_upstream, _client);
            var parked = d.Copying ? RunCopy(ref d, src, dst, up) : RunSplice(ref d, src, dst, up);
            if (!parked)
            {
                End(ref d);
            }
        }

        /// <summary>
        /// Waits for <paramref name="readiness"/>: true when parked (the callback resumes the direction, and nothing of
        /// it may be touched after), false when the wait ended at once, with its result in <paramref name="waited"/>.
        /// </summary>
        private bool Park(ref Direction d, Readiness readiness, bool toWrite, int tick, bool up, out Errno waited)
        {
            // Set before the park: once parked, the callback may run (and read it) before TryWaitCallback returns.
            d.WaitsToWrite = toWrite;
            return readiness.TryWaitCallback(tick, up ? ResumeUp : ResumeDown, this, out waited);
        }

        /// <remarks>
        /// The pipe is held only while bytes move: a direction about to wait for its source with an empty pipe gives
        /// the pipe back to the pool first, so an idle session holds its two sockets and no pipe (two descriptors, not
        /// six, and no pipe buffer ring in the kernel). Without a pipe to be had (the descriptor budget, EINVAL or
        /// ENOSYS from splice) the direction goes on copying through a buffer; the pipe is empty then, so no byte is
        /// left behind. Returns true when parked, false when the direction has ended.
        /// </remarks>
        private bool RunSplice(ref Direction d, LinuxSocket src, LinuxSocket dst, bool up)
        {
            while (true)
            {
                if (HasFailed)
                {
                    return false;
                }

                if (!d.Eof && (d.Pipe is null || d.InPipe < d.Pipe.Capacity))
                {
                    if (d.Pipe is null)
                    {
                        d.Pipe = PipePair.Rent(_settings.PipeSize, out _);
                        if (d.Pipe is null)
                        {
                            return FallBackToCopy(ref d, src, dst, up);
                        }
                    }

                    var tick = src.Readable.Tick;
                    var n = Sys.splice(src.Fd, 0, d.Pipe.WriteFd, 0, (nuint)(d.Pipe.Capacity - d.InPipe), SpliceFlags);
                    if (n > 0)
                    {
                        d.InPipe += (int)n;
                    }
                    else if (n == 0)
                    {
                        d.Eof = true;
                    }
                    else
                    {
                        var error = Sys.LastErrno;
                        if (error == Errno.EAGAIN)
                        {
                            if (d.InPipe == 0)
                            {
                                d.Pipe.Return(empty: true);
                                d.Pipe = null;
                                if (Park(ref d, src.Readable, toWrite: false, tick, up, out var waited))
                                {
                                    return true;
                                }

                                if (waited != Errno.None)
                                {
                                    Fail(src, waited, fromDeadline: waited == Errno.ETIMEDOUT);
                                    return false;
                                }

                                continue;
                            }
                        }
                        else if (error == Errno.EINTR)
                        {
                            continue;
                        }
                        else if ((error is Errno.EINVAL or Errno.ENOSYS) && d.Moved == 0 && d.InPipe == 0)
                        {
                            d.Pipe.Return(empty: true);
                            d.Pipe = null;
                            return FallBackToCopy(ref d, src, dst, up);
                        }
                        else
                        {
                            Fail(src, error, fromDeadline: false);
                            return false;
                        }
                    }
                }

                if (d.InPipe > 0)
                {
                    var tick = dst.WritableTick;
                    var m = Sys.splice(d.Pipe!.ReadFd, 0, dst.Fd, 0, (nuint)d.InPipe, SpliceFlags);
                    if (m > 0)
                    {
                        d.InPipe -= (int)m;
                        d.Moved += m;
                        Count(up, m);
                        continue;
                    }

                    var error = Sys.LastErrno;
                    if (error == Errno.EAGAIN)
                    {
                        if (tick == LinuxSocket.NoTick)
                        {
                            dst.EnsureWritable();
                            continue;
                        }

                        if (Park(ref d, dst.Writable, toWrite: true, tick, up, out var waited))
                        {
                            return true;
                        }

                        if (waited != Errno.None)
                        {
                            Fail(dst, waited, fromDeadline: waited == Errno.ETIMEDOUT);
                            return false;
                        }

                        continue;
                    }

                    if (error != Errno.EINTR)
                    {
                        Fail(dst, error, fromDeadline: false);
                        return false;
                    }

                    continue;
                }

                if (d.Eof)
                {
                    _ = dst.Shutdown(SocketShutdown.Send);
                    return false;
                }
            }
        }

        /// <summary>Only with the pipe empty and given back: no pipe to be had, or splice refused these sockets.</summary>
        private bool FallBackToCopy(ref Direction d, LinuxSocket src, LinuxSocket dst, bool up)
        {
            d.Copying = true;
            d.Spliced = d.Moved > 0;
            return RunCopy(ref d, src, dst, up);
        }

        /// <remarks>
        /// Like the pipe, the buffer is held only while bytes move: an idle direction gives it back before it waits,
        /// so a copying session costs no 64 KiB per direction while it is quiet. Returns true when parked.
        /// </remarks>
        private bool RunCopy(ref Direction d, LinuxSocket src, LinuxSocket dst, bool up)
        {
            while (true)
            {
                if (HasFailed)
                {
                    return false;
                }

                if (d.Filled == 0)
                {
                    d.Buffer ??= ArrayPool<byte>.Shared.Rent(_settings.BufferSize);
                    var tick = src.Readable.Tick;
                    var read = src.TryReceive(d.Buffer);
                    if (read.HasError)
                    {
                        if (read.Error == Errno.EAGAIN)
                        {
                            ArrayPool<byte>.Shared.Return(d.Buffer);
                            d.Buffer = null;
                            if (Park(ref d, src.Readable, toWrite: false, tick, up, out var waited))
                            {
                                return true;
                            }

                            if (waited != Errno.None)
                            {
                                Fail(src, waited, fromDeadline: waited == Errno.ETIMEDOUT);
                                return false;
                            }
                        }
                        else if (read.Error != Errno.EINTR)
                        {
                            Fail(src, read.Error, fromDeadline: false);
                            return false;
                        }

                        continue;
                    }

                    if (read.Bytes == 0)
                    {
                        _ = dst.Shutdown(SocketShutdown.Send);
                        return false;
                    }

                    d.Filled = read.Bytes;
                    d.Sent = 0;
                }

                while (d.Sent < d.Filled)
                {
                    var tick = dst.WritableTick;
                    var write = dst.TrySend(d.Buffer.AsSpan(d.Sent, d.Filled - d.Sent));
                    if (!write.HasError)
                    {
                        d.Sent += write.Bytes;
                        continue;
                    }

                    if (write.Error == Errno.EAGAIN)
                    {
                        if (tick == LinuxSocket.NoTick)
                        {
                            dst.EnsureWritable();
                            continue;
                        }

                        if (Park(ref d, dst.Writable, toWrite: true, tick, up, out var waited))
                        {
                            return true;
                        }

                        if (waited != Errno.None)
                        {
                            Fail(dst, waited, fromDeadline: waited == Errno.ETIMEDOUT);
                            return false;
                        }
                    }
                    else if (write.Error != Errno.EINTR)
                    {
                        Fail(dst, write.Error, fromDeadline: false);
                        return false;
                    }
                }

                Count(up, d.Filled);
                d.Filled = 0;
            }
        }

        private void Count(bool up, long bytes)
        {
            if (up)
            {
                _counters.AddUp(bytes);
            }
            else
            {
                _counters.AddDown(bytes);
            }

            Touch();
        }

        private void Touch()
        {
            if (_settings.IdleTimeout > TimeSpan.Zero)
            {
                var deadline = Environment.TickCount64 + (long)_settings.IdleTimeout.TotalMilliseconds;
                _client.DeadlineMs = deadline;
                _upstream.DeadlineMs = deadline;
            }
        }

        private void Fail(LinuxSocket socket, Errno error, bool fromDeadline)
        {
            if (Interlocked.CompareExchange(ref _failed, 1, 0) != 0)
            {
                return;
            }

            _failedSocket = socket;
            _failedError = error;
            _failedFromDeadline = fromDeadline;

            // Wake the other direction wherever it is parked; it sees the failure and ends.
            var abortWith = error == Errno.ETIMEDOUT && fromDeadline ? Errno.ETIMEDOUT : Errno.ECANCELED;
            _client.Abort(abortWith);
            _upstream.Abort(abortWith);
        }

        /// <summary>A direction has ended: its pipe and buffer go back, and the last of the two concludes the session.</summary>
        private void End(ref Direction d)
        {
            if (d.Pipe is { } pipe)
            {
                d.Pipe = null;
                pipe.Return(empty: d.InPipe == 0);
            }

            if (d.Buffer is { } buffer)
            {
                d.Buffer = null;
                ArrayPool<byte>.Shared.Return(buffer);
            }

            if (Interlocked.Decrement(ref _running) != 0)
            {
                return;
            }

            _client.DeadlineMs = 0;
            _upstream.DeadlineMs = 0;
            _completion.RelayEnded(Conclude());
        }

        private RelayResult Conclude()
        {
            var spliced = _up.Spliced || _down.Spliced;
            var up = _counters.BytesUp;
            var down = _counters.BytesDown;
            if (Volatile.Read(ref _failed) == 0)
            {
                return new RelayResult(RelayOutcome.Completed, Errno.None, up, down, spliced);
            }

            if (_failedError == Errno.ETIMEDOUT && _failedFromDeadline)
            {
                return new RelayResult(RelayOutcome.IdleTimeout, Errno.ETIMEDOUT, up, down, spliced);
            }

            if (_failedError == Errno.ECANCELED)
            {
                return new RelayResult(RelayOutcome.Aborted, Errno.ECANCELED, up, down, spliced);
            }

            // Which side failed is reported, not acted on: the caller closes both and decides which peer gets a reset.
            var outcome = ReferenceEquals(_failedSocket, _client) ? RelayOutcome.ClientError : RelayOutcome.UpstreamError;
            return new RelayResult(outcome, _failedError, up, down, spliced);
        }

    }
}
