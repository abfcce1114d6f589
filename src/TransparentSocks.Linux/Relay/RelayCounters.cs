namespace TransparentSocks.Linux.Relay;

/// <summary>
/// Live byte counts of one session. Each field has a single writer (its direction's pump), so updates are plain
/// volatile writes: no lock and no interlocked operation per chunk. Readers (stats, show sessions) read them racily,
/// which is exact enough for monitoring.
/// </summary>
/// <remarks>Not sealed: a session is its own counters, one object fewer per connection (held for hours when idle).</remarks>
public class RelayCounters
{
    private long _up;
    private long _down;

    /// <summary>Client to upstream.</summary>
    public long BytesUp => Volatile.Read(ref _up);

    /// <summary>Upstream to client.</summary>
    public long BytesDown => Volatile.Read(ref _down);

    /// <summary>Also for bytes sent to the destination before the relay starts (early data), by the same owner.</summary>
    public void AddUp(long n) => Volatile.Write(ref _up, _up + n);

    internal void AddDown(long n) => Volatile.Write(ref _down, _down + n);
}
