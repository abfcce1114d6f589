using TransparentSocks.Linux.Relay;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Engine.Stats;

/// <summary>
/// Counters of one inbound (the SOCKS5 server, or one interface of the transparent path). Updated once per
/// connection event with interlocked adds; byte totals are folded in when a session closes, and live sessions
/// are added on read by the caller that needs exact figures.
/// </summary>
public sealed class InboundStats
{
    private static readonly int RelayOutcomes = Enum.GetValues<RelayOutcome>().Length;

    private readonly FailureCounters _dialFailures = new();
    private long _accepted;
    private long _rejected;
    private long _authFailures;
    private long _handshakeFailures;
    private long _evicted;
    private long _active;
    private long _total;
    private long _bytesUp;
    private long _bytesDown;
    private long _sniffedTls;
    private long _sniffedHttp;

    // One counter per RelayOutcome, indexed by it: an outcome added to the enum is counted without a new case here.
    private readonly long[] _relayEnds = new long[RelayOutcomes];

    public InboundStats(string name)
    {
        Name = name;
    }

    public string Name { get; }

    /// <summary>The inbound's UDP: transparent flows, or the server's UDP ASSOCIATE relays.</summary>
    public UdpStats Udp { get; } = new();

    /// <summary>Connections accepted from the kernel.</summary>
    public long Accepted => Volatile.Read(ref _accepted);

    /// <summary>Connections closed at once by the client ACL or a limit.</summary>
    public long Rejected => Volatile.Read(ref _rejected);

    public long AuthFailures => Volatile.Read(ref _authFailures);

    /// <summary>Malformed, unsupported or timed-out handshakes.</summary>
    public long HandshakeFailures => Volatile.Read(ref _handshakeFailures);

    /// <summary>Handshakes aborted, and reset, to make room for a newer one while the handshake budget was full.</summary>
    public long Evicted => Volatile.Read(ref _evicted);

    public long Active => Volatile.Read(ref _active);

    public long Total => Volatile.Read(ref _total);

    /// <summary>Bytes of closed sessions, client to destination.</summary>
    public long ClosedBytesUp => Volatile.Read(ref _bytesUp);

    public long ClosedBytesDown => Volatile.Read(ref _bytesDown);

    /// <summary>Relayed sessions that ended with both sides' EOF: every byte delivered.</summary>
    public long Completed => RelayEnds(RelayOutcome.Completed);

    /// <summary>
    /// Relayed sessions the upstream or destination cut (a reset, EPIPE, a TCP timeout) after the reply; their client
    /// got a reset, not a FIN.
    /// </summary>
    public long UpstreamFailures => RelayEnds(RelayOutcome.UpstreamError);

    /// <summary>Relayed sessions the client cut.</summary>
    public long ClientFailures => RelayEnds(RelayOutcome.ClientError);

    public long IdleTimeouts => RelayEnds(RelayOutcome.IdleTimeout);

    /// <summary>Relayed sessions stopped from outside (the drain ran out).</summary>
    public long Aborted => RelayEnds(RelayOutcome.Aborted);

    private long RelayEnds(RelayOutcome outcome) => (uint)outcome < (uint)RelayOutcomes ? Volatile.Read(ref _relayEnds[(int)outcome]) : 0;

    /// <summary>Transparent sessions whose TLS ClientHello named a usable server (SNI).</summary>
    public long SniffedTls => Volatile.Read(ref _sniffedTls);

    /// <summary>Transparent sessions whose HTTP/1.x request named a usable host.</summary>
    public long SniffedHttp => Volatile.Read(ref _sniffedHttp);

    public long DialFailures(DialError error) => _dialFailures.Of(error);

    public long TotalDialFailures => _dialFailures.Total;

    public IEnumerable<(DialError Error, long Count)> DialFailureBreakdown() => _dialFailures.Breakdown();

    internal void ConnectionAccepted() => Interlocked.Increment(ref _accepted);

    internal void ConnectionRejected() => Interlocked.Increment(ref _rejected);

    internal void AuthFailed() => Interlocked.Increment(ref _authFailures);

    internal void HandshakeFailed() => Interlocked.Increment(ref _handshakeFailures);

    internal void HandshakeEvicted() => Interlocked.Increment(ref _evicted);

    /// <summary>A session's first bytes named a host; counted per protocol, never per name (names are unbounded).</summary>
    internal void Sniffed(SniffedProtocol protocol)
    {
        if (protocol == SniffedProtocol.Tls)
        {
            Interlocked.Increment(ref _sniffedTls);
        }
        else if (protocol == SniffedProtocol.Http)
        {
            Interlocked.Increment(ref _sniffedHttp);
        }
    }

    internal void DialFailed(DialError error) => _dialFailures.Record(error);

    /// <summary>An outcome outside the enum counts as aborted: the relay ended for no cause it names.</summary>
    internal void RelayEnded(RelayOutcome outcome)
        => Interlocked.Increment(ref _relayEnds[(uint)outcome < (uint)RelayOutcomes ? (int)outcome : (int)RelayOutcome.Aborted]);

    internal void SessionOpened()
    {
        Interlocked.Increment(ref _active);
        Interlocked.Increment(ref _total);
    }

    internal void SessionClosed(long up, long down)
    {
        Interlocked.Decrement(ref _active);
        Interlocked.Add(ref _bytesUp, up);
        Interlocked.Add(ref _bytesDown, down);
    }
}
