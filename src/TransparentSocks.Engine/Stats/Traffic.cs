namespace TransparentSocks.Engine.Stats;

/// <summary>
/// Bytes relayed per inbound, closed sessions plus the live counters of open ones, read in one pass. Every reader
/// (<c>show</c>, the SIGUSR1 report, the metrics) takes its numbers from here, so they cannot disagree.
/// </summary>
public sealed class Traffic
{
    private readonly Dictionary<InboundStats, (long Up, long Down)> _bytes;

    internal Traffic(Dictionary<InboundStats, (long Up, long Down)> bytes) => _bytes = bytes;

    /// <summary>An inbound the snapshot was not taken for reads as zero.</summary>
    public (long Up, long Down) Of(InboundStats stats) => _bytes.GetValueOrDefault(stats);
}
