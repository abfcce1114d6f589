using System.Runtime.CompilerServices;
using TransparentSocks.Engine.Stats;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// Keeps a composite counter (closed totals plus live sessions, read at two moments) from ever being reported
/// lower than before. Prometheus reads any decrease as a reset and would turn it into a huge rate.
/// </summary>
internal sealed class CounterFloor
{
    // Weak, so an interface disabled on reload takes its floor with it; a re-enabled one starts a new counter.
    private readonly ConditionalWeakTable<InboundStats, StrongBox<(long Up, long Down)>> _floors = [];
    private readonly Lock _lock = new();

    public (long Up, long Down) Raise(InboundStats stats, long up, long down)
    {
        lock (_lock)
        {
            var floor = _floors.GetValue(stats, static _ => new StrongBox<(long, long)>());
            floor.Value = (Math.Max(floor.Value.Up, up), Math.Max(floor.Value.Down, down));
            return floor.Value;
        }
    }
}
