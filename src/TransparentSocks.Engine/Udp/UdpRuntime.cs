using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Udp;

/// <summary>Something the runtime's sweep visits about once a second, under <see cref="UdpRuntime.Gate"/>.</summary>
public interface IUdpSweepable
{
    void Sweep(long nowMs);
}

/// <summary>
/// What every UDP socket of the engine shares: one event loop, one lock, one receive batch and one send queue.
/// All UDP sockets (transparent inbounds, upstream associations, reply sockets, the server's relays) live on that
/// loop, and every table they touch is changed under <see cref="Gate"/>, so a flow's state never needs its own
/// lock and the batch is never read into by two threads. Like ipt2socks, the UDP relay is one thread: datagrams
/// are cheap to move, and one thread with batched system calls carries a router's UDP.
/// </summary>
public sealed class UdpRuntime : IDisposable
{
    private const int BatchSize = 16;
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(1);

    private readonly List<IUdpSweepable> _sweepables = [];
    private readonly Timer _sweep;
    private readonly ILogger? _logger;
    private readonly bool _ownsLoop;
    private bool _disposed;

    /// <param name="ownsLoop">The runtime disposes <paramref name="loop"/>: the engine gives UDP a loop of its own, so a
    /// datagram flood keeps one thread busy, not the TCP sessions that share a loop with it.</param>
    public UdpRuntime(Loop loop, ILogger? logger = null, bool ownsLoop = false)
    {
        Loop = loop;
        _logger = logger;
        _ownsLoop = ownsLoop;
        _sweep = new Timer(_ => SweepAll(), null, SweepInterval, SweepInterval);
    }

    public Loop Loop { get; }

    /// <summary>Held while reading datagrams, changing a flow table, opening or closing a UDP socket.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The one receive batch; only read into under <see cref="Gate"/>.</summary>
    public UdpBatch Batch { get; } = new(BatchSize);

    /// <summary>The one send queue; flushed before <see cref="Batch"/> is read into again.</summary>
    public UdpSendQueue Queue { get; } = new(BatchSize);

    /// <summary>Room to frame one datagram that is not in <see cref="Batch"/> (one queued while an association opened).</summary>
    public byte[] Scratch { get; } = GC.AllocateUninitializedArray<byte>(UdpBatch.Headroom + UdpBatch.MaxDatagram);

    public bool IsDisposed => _disposed;

    /// <summary>A bug met on the loop thread: logged, and the loop carries on; input from the network cannot stop it.</summary>
    internal void ReportCrash(string where, Exception exception)
    {
        if (_logger is not null)
        {
            Logging.Log.UdpCrashed(_logger, where, exception);
        }
    }

    public static long NowMs => Environment.TickCount64;

    public void AddSweepable(IUdpSweepable sweepable)
    {
        lock (Gate)
        {
            _sweepables.Add(sweepable);
        }
    }

    public void RemoveSweepable(IUdpSweepable sweepable)
    {
        lock (Gate)
        {
            _sweepables.Remove(sweepable);
        }
    }

    private void SweepAll()
    {
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            var now = NowMs;
            foreach (var sweepable in _sweepables.ToArray())
            {
                try
                {
                    sweepable.Sweep(now);
                }
                catch (Exception ex)
                {
                    ReportCrash("sweep", ex);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed)
            {
                return;
            }

            // Under the gate: a readable socket that is still registered finds the batch either whole or not at all.
            _disposed = true;
            Batch.Dispose();
            Queue.Dispose();
        }

        _sweep.Dispose();
        if (_ownsLoop)
        {
            Loop.Dispose();
        }
    }
}
