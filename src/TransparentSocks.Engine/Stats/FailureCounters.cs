namespace TransparentSocks.Engine.Stats;

/// <summary>Failed dials by reason, one interlocked counter per <see cref="DialError"/>; shared by inbound and dialer statistics.</summary>
public sealed class FailureCounters
{
    private static readonly DialError[] Reasons = Enum.GetValues<DialError>().Where(e => e != DialError.None).ToArray();
    private static readonly int Count = Enum.GetValues<DialError>().Length;

    private readonly long[] _counts = new long[Count];

    public long Total
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                total += Volatile.Read(ref _counts[i]);
            }

            return total;
        }
    }

    public long Of(DialError error) => (uint)error < (uint)Count ? Volatile.Read(ref _counts[(int)error]) : 0;

    /// <summary>Every reason with its count, zeros included, so a metrics exporter sees stable series.</summary>
    public IEnumerable<(DialError Error, long Count)> Breakdown() => Reasons.Select(e => (e, Of(e)));

    internal void Record(DialError error)
        => Interlocked.Increment(ref _counts[(uint)error < (uint)Count && error != DialError.None ? (int)error : (int)DialError.Other]);
}
