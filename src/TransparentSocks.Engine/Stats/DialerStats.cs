namespace TransparentSocks.Engine.Stats;

/// <summary>
/// Counters of one dialer (one upstream, or the direct path). Each dial touches them a couple of times with
/// interlocked adds; readers get a moment's view, not a consistent snapshot across counters.
/// </summary>
public sealed class DialerStats
{
    private readonly FailureCounters _failures = new();
    private long _dials;
    private long _connections;
    private long _udpAssociations;
    private int _pooledIdle;
    private long _poolHits;
    private long _poolMisses;
    private long _poolRetries;
    private long _poolDiscarded;
    private long _poolOpens;
    private long _poolOpenFailures;

    /// <summary>Dial attempts, including those that were denied before any connect.</summary>
    public long Dials => Volatile.Read(ref _dials);

    /// <summary>Dials that produced a connected socket.</summary>
    public long Connections => Volatile.Read(ref _connections);

    /// <summary>UDP associations opened (with an upstream: UDP ASSOCIATE replies that succeeded).</summary>
    public long UdpAssociations => Volatile.Read(ref _udpAssociations);

    /// <summary>Dials that failed, for any reason.</summary>
    public long Failures => _failures.Total;

    /// <summary>Pre-authenticated connections waiting in the pool right now.</summary>
    public int PooledIdle => Volatile.Read(ref _pooledIdle);

    /// <summary>Dials that were served by a pooled connection (only CONNECT went over the wire).</summary>
    public long PoolHits => Volatile.Read(ref _poolHits);

    /// <summary>Dials with pooling on that found no live pooled connection and connected afresh.</summary>
    public long PoolMisses => Volatile.Read(ref _poolMisses);

    /// <summary>Pooled connections that broke at CONNECT (closed or reset before any reply), after which the dial connected afresh.</summary>
    public long PoolRetries => Volatile.Read(ref _poolRetries);

    /// <summary>Pooled connections closed unused: expired, or found dead when taken.</summary>
    public long PoolDiscarded => Volatile.Read(ref _poolDiscarded);

    /// <summary>Background attempts to open a pooled connection (connect, greeting, authentication).</summary>
    public long PoolOpens => Volatile.Read(ref _poolOpens);

    public long PoolOpenFailures => Volatile.Read(ref _poolOpenFailures);

    public long FailuresOf(DialError error) => _failures.Of(error);

    /// <summary>Every failure reason with its count, zeros included, so a metrics exporter sees stable series.</summary>
    public IEnumerable<(DialError Error, long Count)> FailureBreakdown() => _failures.Breakdown();

    internal void DialStarted() => Interlocked.Increment(ref _dials);

    internal void DialCompleted(in DialResult result)
    {
        if (result.Succeeded)
        {
            Interlocked.Increment(ref _connections);
            return;
        }

        _failures.Record(result.Error);
    }

    /// <summary>A UDP association is a dial too: its failures count with the TCP ones, by the same reasons.</summary>
    internal void AssociationCompleted(in Udp.UdpAssociateResult result)
    {
        if (result.Succeeded)
        {
            Interlocked.Increment(ref _udpAssociations);
            return;
        }

        _failures.Record(result.Error);
    }

    internal void SetPooledIdle(int count) => Volatile.Write(ref _pooledIdle, count);

    internal void PoolHit() => Interlocked.Increment(ref _poolHits);

    internal void PoolMiss() => Interlocked.Increment(ref _poolMisses);

    internal void PoolRetry() => Interlocked.Increment(ref _poolRetries);

    internal void PoolDiscard(int count = 1) => Interlocked.Add(ref _poolDiscarded, count);

    internal void PoolOpenStarted() => Interlocked.Increment(ref _poolOpens);

    internal void PoolOpenFailed() => Interlocked.Increment(ref _poolOpenFailures);
}
