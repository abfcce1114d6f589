namespace TransparentSocks.Engine.Udp;

/// <summary>
/// A map with a hard capacity and least-recently-used order, for UDP flows and cached reply sockets: O(1) lookup,
/// touch, insert and removal, and no allocation after construction (the nodes live in preallocated arrays and the
/// dictionary is sized for the capacity up front). Not thread-safe: each table belongs to one event loop.
/// </summary>
public sealed class LruMap<TKey, TValue>
    where TKey : notnull
{
    private const int None = -1;

    private readonly Dictionary<TKey, int> _index;
    private readonly TKey[] _keys;
    private readonly TValue[] _values;
    private readonly long[] _stamps;
    private readonly int[] _prev;
    private readonly int[] _next;

    // Most recent at the head, oldest at the tail; free slots chain through _next.
    private int _head = None;
    private int _tail = None;
    private int _free;

    public LruMap(int capacity, IEqualityComparer<TKey>? comparer = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _index = new Dictionary<TKey, int>(capacity, comparer);
        _keys = new TKey[capacity];
        _values = new TValue[capacity];
        _stamps = new long[capacity];
        _prev = new int[capacity];
        _next = new int[capacity];
        for (var i = 0; i < capacity; i++)
        {
            _next[i] = i + 1 < capacity ? i + 1 : None;
        }
    }

    public int Capacity { get; }

    public int Count => _index.Count;

    /// <summary>Finds <paramref name="key"/>; with <paramref name="stamp"/>, also makes it the most recent and records the time.</summary>
    public bool TryGet(TKey key, out TValue value, long? stamp = null)
    {
        if (!_index.TryGetValue(key, out var slot))
        {
            value = default!;
            return false;
        }

        if (stamp is { } now)
        {
            _stamps[slot] = now;
            MoveToHead(slot);
        }

        value = _values[slot];
        return true;
    }

    /// <summary>Finds <paramref name="key"/> and when it was last touched, without touching it.</summary>
    public bool TryPeek(TKey key, out TValue value, out long stamp)
    {
        if (!_index.TryGetValue(key, out var slot))
        {
            value = default!;
            stamp = 0;
            return false;
        }

        value = _values[slot];
        stamp = _stamps[slot];
        return true;
    }

    /// <summary>
    /// Adds <paramref name="key"/> as the most recent entry. When the map is full, the oldest entry makes room and is
    /// returned through <paramref name="evicted"/> so its owner can close what it holds. Throws when the key exists.
    /// </summary>
    public bool Add(TKey key, TValue value, long stamp, out KeyValuePair<TKey, TValue> evicted)
    {
        if (_index.ContainsKey(key))
        {
            throw new ArgumentException("the key is already in the map", nameof(key));
        }

        evicted = default;
        var wasFull = _free == None;
        if (wasFull)
        {
            var oldest = _tail;
            evicted = new(_keys[oldest], _values[oldest]);
            Unlink(oldest);
        }

        _index.Add(key, _free);
        var slot = _free;
        _free = _next[slot];
        _keys[slot] = key;
        _values[slot] = value;
        _stamps[slot] = stamp;
        LinkAtHead(slot);
        return wasFull;
    }

    public bool Remove(TKey key, out TValue value)
    {
        if (!_index.TryGetValue(key, out var slot))
        {
            value = default!;
            return false;
        }

        value = _values[slot];
        Unlink(slot);
        return true;
    }

    /// <summary>The least recently used entry and the time it was last touched.</summary>
    public bool TryPeekOldest(out TKey key, out TValue value, out long stamp)
    {
        if (_tail == None)
        {
            key = default!;
            value = default!;
            stamp = 0;
            return false;
        }

        key = _keys[_tail];
        value = _values[_tail];
        stamp = _stamps[_tail];
        return true;
    }

    /// <summary>
    /// The entries last touched before <paramref name="olderThan"/>, oldest first, into <paramref name="into"/>.
    /// Touches keep the list in time order, so the walk stops at the first newer entry: a sweep costs what it finds.
    /// </summary>
    public void CollectOlderThan(long olderThan, List<(TKey Key, TValue Value, long Stamp)> into)
    {
        for (var slot = _tail; slot != None && _stamps[slot] < olderThan; slot = _prev[slot])
        {
            into.Add((_keys[slot], _values[slot], _stamps[slot]));
        }
    }

    private void Unlink(int slot)
    {
        _index.Remove(_keys[slot]);
        Detach(slot);
        _keys[slot] = default!;
        _values[slot] = default!;
        _next[slot] = _free;
        _free = slot;
    }

    private void MoveToHead(int slot)
    {
        if (slot == _head)
        {
            return;
        }

        Detach(slot);
        LinkAtHead(slot);
    }

    private void Detach(int slot)
    {
        var prev = _prev[slot];
        var next = _next[slot];
        if (prev == None)
        {
            _head = next;
        }
        else
        {
            _next[prev] = next;
        }

        if (next == None)
        {
            _tail = prev;
        }
        else
        {
            _prev[next] = prev;
        }
    }

    private void LinkAtHead(int slot)
    {
        _prev[slot] = None;
        _next[slot] = _head;
        if (_head != None)
        {
            _prev[_head] = slot;
        }

        _head = slot;
        if (_tail == None)
        {
            _tail = slot;
        }
    }
}
