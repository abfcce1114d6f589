namespace TransparentSocks.Engine.Stats;

/// <summary>Why a datagram was not passed on. Each is a label of <c>transparentsocks_udp_dropped_total</c>.</summary>
public enum UdpDropReason
{
    /// <summary>A SOCKS5 UDP header that does not parse (from a client or an upstream relay).</summary>
    Malformed,

    /// <summary>FRAG ≠ 0: RFC 1928 lets a relay that does not reassemble drop fragments, and we do.</summary>
    Fragmented,

    /// <summary>Longer than a receive slot, so it arrived cut; a cut datagram must not be passed on.</summary>
    Truncated,

    /// <summary>The destination policy refused the destination (the deny-list, the proxy's own endpoints).</summary>
    Denied,

    /// <summary>From an address the association does not belong to (another client, a stranger at the relay port).</summary>
    WrongSource,

    /// <summary>The flow's upstream association could not be opened, or is still failing.</summary>
    UpstreamUnavailable,

    /// <summary>Waiting for the association to open, and the flow's small queue was full.</summary>
    QueueFull,

    /// <summary>The kernel refused the send (a full socket buffer, an unreachable destination).</summary>
    SendFailed,

    /// <summary>No reply socket could be had for the reply's source (a local address, its port held, out of fds).</summary>
    NoReplySocket,

    /// <summary>A reply whose source is a name, which no reply socket can be bound to, or a name that did not resolve.</summary>
    Unresolvable,
}

/// <summary>
/// UDP counters of one ingress (an interface of the transparent path, or the SOCKS5 server): flows, datagrams and
/// bytes each way, drops by reason, evictions. Interlocked adds on the relay's thread; read from anywhere.
/// </summary>
public sealed class UdpStats
{
    private static readonly int ReasonCount = Enum.GetValues<UdpDropReason>().Length;

    private readonly long[] _drops = new long[ReasonCount];
    private long _active;
    private long _total;
    private long _datagramsUp;
    private long _bytesUp;
    private long _datagramsDown;
    private long _bytesDown;
    private long _evicted;
    private long _failedOpens;

    public static IReadOnlyList<UdpDropReason> Reasons { get; } = Enum.GetValues<UdpDropReason>();

    /// <summary>Flows (transparent) or associations (server) open now.</summary>
    public long Active => Volatile.Read(ref _active);

    public long Total => Volatile.Read(ref _total);

    /// <summary>Client to destination.</summary>
    public long DatagramsUp => Volatile.Read(ref _datagramsUp);

    public long BytesUp => Volatile.Read(ref _bytesUp);

    /// <summary>Destination to client.</summary>
    public long DatagramsDown => Volatile.Read(ref _datagramsDown);

    public long BytesDown => Volatile.Read(ref _bytesDown);

    /// <summary>Flows closed early because the table was full.</summary>
    public long Evicted => Volatile.Read(ref _evicted);

    /// <summary>Associations with the upstream that could not be opened.</summary>
    public long FailedOpens => Volatile.Read(ref _failedOpens);

    public long Dropped(UdpDropReason reason) => Volatile.Read(ref _drops[(int)reason]);

    public long DroppedTotal
    {
        get
        {
            long sum = 0;
            foreach (var reason in Reasons)
            {
                sum += Dropped(reason);
            }

            return sum;
        }
    }

    public void FlowOpened()
    {
        Interlocked.Increment(ref _active);
        Interlocked.Increment(ref _total);
    }

    public void FlowClosed() => Interlocked.Decrement(ref _active);

    public void FlowEvicted() => Interlocked.Increment(ref _evicted);

    public void OpenFailed() => Interlocked.Increment(ref _failedOpens);

    public void Up(int bytes)
    {
        Interlocked.Increment(ref _datagramsUp);
        Interlocked.Add(ref _bytesUp, bytes);
    }

    public void Down(int bytes)
    {
        Interlocked.Increment(ref _datagramsDown);
        Interlocked.Add(ref _bytesDown, bytes);
    }

    public void Drop(UdpDropReason reason, int count = 1)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _drops[(int)reason], count);
        }
    }
}
