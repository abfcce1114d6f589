using System.Collections.Concurrent;
using TransparentSocks.Engine.Pipeline;

namespace TransparentSocks.Engine.Sessions;

/// <summary>Every live session, by id: O(1) add, remove and lookup; snapshots for listing.</summary>
public sealed class SessionTable
{
    private readonly ConcurrentDictionary<long, Session> _sessions = new();
    private long _nextId;

    public int Count => _sessions.Count;

    internal Session Open(InboundProfile profile, LinuxSocket client, IPEndPoint clientEndPoint)
    {
        var session = new Session(this, Interlocked.Increment(ref _nextId), profile, client, clientEndPoint);
        _sessions[session.Id] = session;
        profile.Stats.SessionOpened();
        return session;
    }

    public bool TryGet(long id, out Session? session) => _sessions.TryGetValue(id, out session);

    public IReadOnlyList<Session> Snapshot() => _sessions.Values.OrderBy(s => s.Id).ToList();

    /// <summary>
    /// Bytes relayed by each of <paramref name="inbounds"/>. The closed totals are read before the live table: a
    /// session closing in between is missed once rather than counted twice.
    /// </summary>
    public Traffic Traffic(IReadOnlyCollection<InboundStats> inbounds)
    {
        var bytes = new Dictionary<InboundStats, (long Up, long Down)>(inbounds.Count, ReferenceEqualityComparer.Instance);
        foreach (var stats in inbounds)
        {
            bytes[stats] = (stats.ClosedBytesUp, stats.ClosedBytesDown);
        }

        foreach (var session in _sessions.Values)
        {
            if (bytes.TryGetValue(session.Stats, out var sum))
            {
                bytes[session.Stats] = (sum.Up + session.Counters.BytesUp, sum.Down + session.Counters.BytesDown);
            }
        }

        return new Traffic(bytes);
    }

    /// <summary>Bytes relayed by one inbound; see <see cref="Traffic"/>.</summary>
    public (long Up, long Down) BytesOf(InboundStats stats) => Traffic([stats]).Of(stats);

    public void AbortAll(string? inbound = null)
    {
        foreach (var session in _sessions.Values)
        {
            if (inbound is null || session.Inbound == inbound)
            {
                session.Abort();
            }
        }
    }

    internal void Remove(Session session) => _sessions.TryRemove(session.Id, out _);
}
