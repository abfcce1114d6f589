using System.Buffers;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
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

    /// <summary>Starts relaying; <see cref="RelayRun.Completion"/> completes when both directions have ended.</summary>
    public static RelayRun Start(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters)
    {
        var relay = new Relay(client, upstream, settings, counters);
        relay.Start();
        return new RelayRun(relay);
    }

    /// <summary>The whole relay in one await, for callers that do not hold it for hours.</summary>
    public static async ValueTask<RelayResult> RunAsync(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters)
    {
        var run = Start(client, upstream, settings, counters);
        await run.Completion.ConfigureAwait(false);
        return run.Result;
    }

    /// <summary>
    /// A running relay. A plain ValueTask and the result read after it, not a ValueTask of the result: the frame that
    /// awaits it is held for the life of the session, and an awaiter of the result would carry the result's room
    /// in it all that time.
    /// </summary>
    public readonly struct RelayRun
    {
        private readonly Relay _relay;

        internal RelayRun(Relay relay) => _relay = relay;

        public ValueTask Completion => new(_relay, 0);

        /// <summary>How the session ended; only once <see cref="Completion"/> has completed.</summary>
        public RelayResult Result => _relay.Conclude();
    }

    /// <summary>Where one direction stands between two of its callbacks.</summary>
    internal struct Direction
    {
        /// <summary>The pipe, held only while bytes move (see <see cref="Relay.RunSplice"/>).</summary>
        public PipePair? Pipe;

        /// <summary>The copy buffer, held only while bytes move.</summary>
        public byte[]? Buffer;

        /// <summary>The readiness parked on; null while running.</summary>
        public Readiness? Waiting;

        public long Moved;
        public int InPipe;
        public int Filled;
        public int Sent;
        public bool Eof;
        public bool Copying;
        public bool Spliced;
    }

    /// <summary>Both directions of one session, the idle deadline, the first failure, and the session's result.</summary>
    internal sealed class Relay : IValueTaskSource
    {
        private static readonly Action<object?> ResumeUp = static s => ((Relay)s!).Resume(up: true);
        private static readonly Action<object?> ResumeDown = static s => ((Relay)s!).Resume(up: false);

        private readonly LinuxSocket _client;
        private readonly LinuxSocket _upstream;
        private readonly RelaySettings _settings;
        private readonly RelayCounters _counters;
        private readonly long _idleMs;
        private Direction _up;
        private Direction _down;
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _running = 2;

        // The first failure: written once by the direction that wins _failed, read after both directions ended.
        private int _failed;
        private LinuxSocket? _failedSocket;
        private Errno _failedError;
        private bool _failedFromDeadline;

        public Relay(LinuxSocket client, LinuxSocket upstream, RelaySettings settings, RelayCounters counters)
        {
            _client = client;
            _upstream = upstream;
            _settings = settings;
            _counters = counters;
            _idleMs = settings.IdleTimeout > TimeSpan.Zero ? (long)settings.IdleTimeout.TotalMilliseconds : 0;
            var splice = settings.Mode == RelayMode.Splice;
            _up.Copying = _down.Copying = !splice;
            _up.Spliced = _down.Spliced = splice;
        }

        private bool HasFailed => Volatile.Read(ref _failed) != 0;

        public void Start()
        {
            Touch();

            // Both directions start on the pool, so neither runs its first chunks inline before the other has begun.
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(up: true), this, preferLocal: false);
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(up: false), this, preferLocal: false);
        }

        private void Resume(bool up)
        {
            ref var d = ref up ? ref _up : ref _down;
            var readiness = d.Waiting!;
            d.Waiting = null;
            var waited = readiness.TakeResult();
            if (waited != Errno.None)
            {
                var (src, dst) = up ? (_client, _upstream) : (_upstream, _client);
                Fail(ReferenceEquals(readiness, src.Readable) ? src : dst, waited, fromDeadline: waited == Errno.ETIMEDOUT);
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
        private bool Park(ref Direction d, Readiness readiness, int tick, bool up, out Errno waited)
        {
            d.Waiting = readiness;
            if (readiness.TryWaitCallback(tick, up ? ResumeUp : ResumeDown, this, out waited))
            {
                return true;
            }

            d.Waiting = null;
            return false;
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
                                if (Park(ref d, src.Readable, tick, up, out var waited))
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
                    var tick = dst.Writable.Tick;
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
                        if (Park(ref d, dst.Writable, tick, up, out var waited))
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
                            if (Park(ref d, src.Readable, tick, up, out var waited))
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
                    var tick = dst.Writable.Tick;
                    var write = dst.TrySend(d.Buffer.AsSpan(d.Sent, d.Filled - d.Sent));
                    if (!write.HasError)
                    {
                        d.Sent += write.Bytes;
                        continue;
                    }

                    if (write.Error == Errno.EAGAIN)
                    {
                        if (Park(ref d, dst.Writable, tick, up, out var waited))
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
            if (_idleMs > 0)
            {
                var deadline = Environment.TickCount64 + _idleMs;
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
            _core.SetResult(true);
        }

        public RelayResult Conclude()
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

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }
}
