namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// The live counts an inbound's limits are checked against, kept across reconfigurations (the limits themselves
/// come with each connection's <see cref="InboundProfile"/>). Interlocked counters, no lock.
/// </summary>
public sealed class Admission
{
    private int _connections;
    private int _handshakes;
    private volatile bool _closed;

    /// <summary>Connections admitted and not yet closed.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Admitted connections still reading their request.</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    /// <summary>Refuses every connection from now on (the inbound is stopping).</summary>
    public void Close() => _closed = true;

    public void Reopen() => _closed = false;

    /// <summary>Admits the client and takes a connection and a handshake slot, or returns why not (and takes nothing).</summary>
    public string? TryAdmit(IPEndPoint client, AdmissionLimits limits)
    {
        if (_closed)
        {
            return "shutting down";
        }

        if (limits.AllowedClients is { } allowed && !allowed.Contains(client.Address))
        {
            return "source address not in allowedClients";
        }

        if (Interlocked.Increment(ref _connections) > limits.MaxConnections && limits.MaxConnections > 0)
        {
            Interlocked.Decrement(ref _connections);
            return $"maxConnections ({limits.MaxConnections}) reached";
        }

        if (Interlocked.Increment(ref _handshakes) > limits.MaxHandshakes && limits.MaxHandshakes > 0)
        {
            Interlocked.Decrement(ref _handshakes);
            Interlocked.Decrement(ref _connections);
            return $"maxHandshakes ({limits.MaxHandshakes}) reached";
        }

        return null;
    }

    public void HandshakeDone() => Interlocked.Decrement(ref _handshakes);

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);
}
