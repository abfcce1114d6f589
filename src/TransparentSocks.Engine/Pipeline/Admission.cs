namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// The live counts an inbound's limits are checked against, kept across reconfigurations (the limits themselves
/// come with each connection's <see cref="InboundProfile"/>). Connections are an interlocked counter; handshakes
/// are tracked one by one, oldest first and per source address, under one short lock, because a full handshake
/// budget is shared out by evicting the oldest handshake rather than by refusing the newest client.
/// </summary>
/// <remarks>
/// Refusing the newest client when the budget is full hands the budget to whoever fills it first: an attacker who
/// opens connections that send one byte and stall, and refills them as they time out, keeps every honest client
/// out. Evicting the oldest instead turns the budget into a window that a stalled handshake falls out of and an
/// honest one (a round trip or two) completes inside. Every step is O(1): a dictionary lookup, list links, and a
/// count per source kept in buckets by size so the busiest source is found without a scan. Handshake and source
/// records are recycled, so a connection rate of the accept path's order allocates nothing here at steady state.
/// </remarks>
public sealed class Admission
{
    // Enough to absorb the churn of a full default budget (512) without growing a pool past what it ever holds.
    private const int MaxPooled = 1024;

    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, Source> _sources = [];

    // Every handshake in progress, oldest first.
    private Handshake? _oldest;
    private Handshake? _newest;

    // _bySize[n] links the sources holding n handshakes; _largest is the highest n with a source.
    private Source?[] _bySize = new Source?[64];
    private int _largest;

    private FreeList<Handshake> _freeHandshakes;
    private FreeList<Source> _freeSources;

    private int _connections;
    private int _handshakes;
    private volatile bool _closed;

    /// <summary>Connections admitted and not yet closed.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Admitted connections still in their handshake (evicted ones no longer count).</summary>
    public int Handshakes => Volatile.Read(ref _handshakes);

    /// <summary>Source addresses with a handshake in progress.</summary>
    public int Sources
    {
        get
        {
            lock (_lock)
            {
                return _sources.Count;
            }
        }
    }

    /// <summary>Handshakes in progress from <paramref name="address"/>.</summary>
    public int HandshakesFrom(IPAddress address)
    {
        lock (_lock)
        {
            return _sources.TryGetValue(address, out var source) ? source.Count : 0;
        }
    }

    /// <summary>Refuses every connection from now on (the inbound is stopping).</summary>
    public void Close() => _closed = true;

    public void Reopen() => _closed = false;

    /// <summary>
    /// Admits the client and takes a connection and a handshake slot, or returns why not (and takes nothing). When
    /// the handshake budget is full, the oldest handshake of the source holding the most is evicted to make room:
    /// its <paramref name="socket"/> is aborted, and its <see cref="HandshakeDone"/> returns false.
    /// </summary>
    /// <param name="socket">What to abort if this handshake is evicted later; null only where nothing waits on one.</param>
    public string? TryAdmit(IPEndPoint client, AdmissionLimits limits, LinuxSocket? socket, out Handshake? handshake)
    {
        handshake = null;
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

        LinuxSocket? evictedSocket = null;
        lock (_lock)
        {
            _sources.TryGetValue(client.Address, out var source);
            if (limits.MaxHandshakesPerClient > 0 && source is not null && source.Count >= limits.MaxHandshakesPerClient)
            {
                Interlocked.Decrement(ref _connections);
                return $"maxHandshakesPerClient ({limits.MaxHandshakesPerClient}) reached";
            }

            if (limits.MaxHandshakes > 0 && _handshakes >= limits.MaxHandshakes)
            {
                // Only a budget lowered by a reload can leave more than one over; each arrival then takes one back.
                var victim = PickVictim();
                if (victim is null)
                {
                    Interlocked.Decrement(ref _connections);
                    return $"maxHandshakes ({limits.MaxHandshakes}) reached";
                }

                Remove(victim);
                victim.Evicted = true;
                evictedSocket = victim.Socket;
                victim.Socket = null;

                // The eviction may have emptied this client's own source record and put it back in the pool.
                if (source is not null && source.Count == 0)
                {
                    source = null;
                }
            }

            source ??= AddSource(client.Address);
            handshake = Add(source, socket);
        }

        // Outside the lock: the evicted connection's continuation runs inline and comes back for it.
        evictedSocket?.Abort(Errno.ECANCELED);
        return null;
    }

    /// <summary>
    /// Gives the handshake slot back (once per admitted connection, whether the handshake succeeded or not). False
    /// when the handshake had been evicted: the connection must then be reset, whatever it read meanwhile.
    /// </summary>
    public bool HandshakeDone(Handshake handshake)
    {
        lock (_lock)
        {
            var completed = !handshake.Evicted;
            if (completed)
            {
                Remove(handshake);
            }

            handshake.Evicted = false;
            handshake.Socket = null;
            _freeHandshakes.Return(handshake);

            return completed;
        }
    }

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>
    /// The oldest handshake of the busiest source, when that source holds more than the source of the oldest
    /// handshake overall; otherwise the oldest overall. An honest client's handshake is young and its source small,
    /// so it is the last to go.
    /// </summary>
    private Handshake? PickVictim()
    {
        var oldest = _oldest;
        if (oldest is null)
        {
            return null;
        }

        var busiest = _bySize[_largest];
        return busiest is not null && busiest.Count > oldest.Source!.Count ? busiest.Oldest : oldest;
    }

    private Handshake Add(Source source, LinuxSocket? socket)
    {
        var handshake = _freeHandshakes.Take() ?? new Handshake();
        handshake.Source = source;
        handshake.Socket = socket;

        handshake.Older = _newest;
        if (_newest is null)
        {
            _oldest = handshake;
        }
        else
        {
            _newest.Newer = handshake;
        }

        _newest = handshake;

        handshake.OlderOfSource = source.Newest;
        if (source.Newest is null)
        {
            source.Oldest = handshake;
        }
        else
        {
            source.Newest.NewerOfSource = handshake;
        }

        source.Newest = handshake;

        Resize(source, source.Count + 1);
        _handshakes++;
        return handshake;
    }

    private void Remove(Handshake handshake)
    {
        var source = handshake.Source!;
        if (handshake.Older is null)
        {
            _oldest = handshake.Newer;
        }
        else
        {
            handshake.Older.Newer = handshake.Newer;
        }

        if (handshake.Newer is null)
        {
            _newest = handshake.Older;
        }
        else
        {
            handshake.Newer.Older = handshake.Older;
        }

        if (handshake.OlderOfSource is null)
        {
            source.Oldest = handshake.NewerOfSource;
        }
        else
        {
            handshake.OlderOfSource.NewerOfSource = handshake.NewerOfSource;
        }

        if (handshake.NewerOfSource is null)
        {
            source.Newest = handshake.OlderOfSource;
        }
        else
        {
            handshake.NewerOfSource.OlderOfSource = handshake.OlderOfSource;
        }

        handshake.Older = handshake.Newer = handshake.OlderOfSource = handshake.NewerOfSource = null;
        handshake.Source = null;
        _handshakes--;

        Resize(source, source.Count - 1);
        if (source.Count == 0)
        {
            _sources.Remove(source.Address!);
            source.Address = null;
            _freeSources.Return(source);
        }
    }

    private Source AddSource(IPAddress address)
    {
        var source = _freeSources.Take() ?? new Source();
        source.Address = address;
        _sources.Add(address, source);
        return source;
    }

    /// <summary>Moves <paramref name="source"/> from its size bucket to that of <paramref name="count"/> (0: none).</summary>
    private void Resize(Source source, int count)
    {
        if (source.Count > 0)
        {
            if (source.Smaller is null)
            {
                _bySize[source.Count] = source.Bigger;
            }
            else
            {
                source.Smaller.Bigger = source.Bigger;
            }

            if (source.Bigger is not null)
            {
                source.Bigger.Smaller = source.Smaller;
            }

            source.Smaller = source.Bigger = null;
        }

        source.Count = count;
        if (count > 0)
        {
            if (count >= _bySize.Length)
            {
                Array.Resize(ref _bySize, _bySize.Length * 2);
            }

            ref var head = ref _bySize[count];
            source.Bigger = head;
            if (head is not null)
            {
                head.Smaller = source;
            }

            head = source;
            _largest = Math.Max(_largest, count);
        }

        // Counts move by one, so the largest falls by at most one a step.
        while (_largest > 0 && _bySize[_largest] is null)
        {
            _largest--;
        }
    }

    /// <summary>
    /// The recycled records of one kind, at most <see cref="MaxPooled"/>, stacked through a link the record already
    /// has for a list it is no longer on, so the pool needs no storage of its own.
    /// </summary>
    private struct FreeList<T>
        where T : class, IRecycled<T>
    {
        private T? _top;
        private int _count;

        /// <summary>A recycled record, or null when there is none and the caller must make one.</summary>
        public T? Take()
        {
            if (_top is not { } item)
            {
                return null;
            }

            ref var link = ref T.PoolLink(item);
            _top = link;
            link = null;
            _count--;
            return item;
        }

        public void Return(T item)
        {
            if (_count < MaxPooled)
            {
                T.PoolLink(item) = _top;
                _top = item;
                _count++;
            }
        }
    }

    /// <summary>One source address's handshakes in progress, and its place in its size bucket.</summary>
    internal sealed class Source : IRecycled<Source>
    {
        public IPAddress? Address;
        public int Count;
        public Handshake? Oldest;
        public Handshake? Newest;

        // Neighbours in the bucket of sources with the same count; Bigger doubles as the pool's link.
        public Source? Smaller;
        public Source? Bigger;

        static ref Source? IRecycled<Source>.PoolLink(Source source) => ref source.Bigger;
    }
}

/// <summary>A record <see cref="Admission"/> recycles, and the link of its own that chains it in the pool.</summary>
internal interface IRecycled<T>
    where T : class
{
    static abstract ref T? PoolLink(T item);
}

/// <summary>An admitted connection's handshake slot, from <see cref="Admission.TryAdmit"/> to <see cref="Admission.HandshakeDone"/>.</summary>
public sealed class Handshake : IRecycled<Handshake>
{
    internal Handshake()
    {
    }

    internal Admission.Source? Source;
    internal LinuxSocket? Socket;
    internal bool Evicted;

    // Neighbours in the list of all handshakes and in the source's own, oldest first; Newer doubles as the pool's link.
    internal Handshake? Older;
    internal Handshake? Newer;
    internal Handshake? OlderOfSource;
    internal Handshake? NewerOfSource;

    static ref Handshake? IRecycled<Handshake>.PoolLink(Handshake handshake) => ref handshake.Newer;
}
