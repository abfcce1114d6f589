using System.Collections.Concurrent;
using System.Net;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Sessions;

/// <summary>Every live session, by id: O(1) add, remove and lookup; snapshots for listing.</summary>
public sealed class SessionTable
{
    private readonly ConcurrentDictionary<long, Session> _sessions = new();
    private long _nextId;

    public int Count => _sessions.Count;

    public Session Open(string inbound, LinuxSocket client, IPEndPoint clientEndPoint, InboundStats stats)
    {
        var session = new Session(this, Interlocked.Increment(ref _nextId), inbound, client, clientEndPoint, stats);
        _sessions[session.Id] = session;
        stats.SessionOpened();
        return session;
    }

    public bool TryGet(long id, out Session? session) => _sessions.TryGetValue(id, out session);

    public IReadOnlyList<Session> Snapshot() => _sessions.Values.OrderBy(s => s.Id).ToList();

    /// <summary>Bytes relayed by an inbound: its closed sessions plus the live counters of its open ones.</summary>
    public (long Up, long Down) BytesOf(InboundStats stats)
    {
        long up = stats.ClosedBytesUp, down = stats.ClosedBytesDown;
        foreach (var session in _sessions.Values)
        {
            if (ReferenceEquals(session.Stats, stats))
            {
                up += session.Counters.BytesUp;
                down += session.Counters.BytesDown;
            }
        }

        return (up, down);
    }

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
