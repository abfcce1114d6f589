using System.Buffers;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Linux.Relay;

namespace TransparentSocks.Engine.Sessions;

public enum SessionState
{
    Handshake,
    Connecting,
    Established,
    Closing,
}

/// <summary>One client connection from accept to close: where it came from, where it goes, and its live byte counts.</summary>
/// <remarks>
/// Also what its relay reports to when it ends (<see cref="IRelayCompletion"/>), so that an idle connection is this
/// object, its relay and its two sockets, with no frame or task waiting for the relay.
/// </remarks>
public sealed class Session : RelayCounters, IDisposable, IRelayCompletion
{
    private readonly SessionTable _table;
    private int _state;
    private int _disposed;
    private byte[]? _requestBuffer;
    private int _requestSize;

    // Held as objects while the connection is set up, where they are read often; packed inline once it is
    // established (Settle), where only a listing or a log line reads them. See PackedEndPoint.
    private readonly PackedEndPoint _client;
    private IPEndPoint? _clientEndPoint;
    private Destination _destination;
    private PackedEndPoint _packedDestination;
    private int _settled;
    private readonly DateTime _startedAt;

    internal Session(SessionTable table, long id, InboundProfile profile, LinuxSocket client, IPEndPoint clientEndPoint)
    {
        _table = table;
        Id = id;
        Profile = profile;
        ClientSocket = client;
        _clientEndPoint = clientEndPoint;
        _client = new PackedEndPoint(clientEndPoint.Address, clientEndPoint.Port);
        _startedAt = DateTime.UtcNow;
    }

    public long Id { get; }

    /// <summary>"server" for the SOCKS5 server, or the interface name for the transparent path.</summary>
    public string Inbound => Profile.Ingress;

    /// <summary>The inbound's profile as it was when the connection came (a reload does not change it mid-session).</summary>
    internal InboundProfile Profile { get; }

    /// <summary>Where the connection reports its end once the relay has started.</summary>
    internal ConnectionPipeline? Pipeline { get; set; }

    /// <summary>The listener's count of open connections, told when this one ends.</summary>
    internal ConnectionTracker? Tracker { get; set; }

    /// <summary>Once the session is established, a new object at each read.</summary>
    public IPEndPoint ClientEndPoint => _clientEndPoint ?? _client.ToEndPoint();

    /// <summary>Once the session is established, an address destination is rebuilt at each read.</summary>
    public Destination Destination
    {
        get
        {
            var destination = _destination;

            // Settle clears the field after it sets the flag: a copy that a concurrent Settle tore or cleared is
            // caught by reading the flag after it (the barrier keeps the copy's reads before the flag's).
            Interlocked.MemoryBarrier();
            return Volatile.Read(ref _settled) != 0 && _packedDestination.HasValue
                ? Destination.FromAddress(_packedDestination.Address, _packedDestination.Port)
                : destination;
        }

        internal set => _destination = value;
    }

    /// <summary>
    /// The name the client's first bytes carried (TLS SNI or the HTTP Host) on the transparent path, whether or not it
    /// replaced the address in <see cref="Destination"/>; null when nothing was sniffed.
    /// </summary>
    public string? Host { get; internal set; }

    /// <summary>The dialer's name ("direct" or the upstream), once chosen.</summary>
    public string? Upstream { get; internal set; }

    public SessionState State
    {
        get => (SessionState)Volatile.Read(ref _state);
        internal set => Volatile.Write(ref _state, (int)value);
    }

    public RelayCounters Counters => this;

    public DateTimeOffset StartedAt => new(_startedAt);

    public InboundStats Stats => Profile.Stats;

    internal LinuxSocket ClientSocket { get; }

    internal LinuxSocket? OutboundSocket { get; set; }

    /// <summary>
    /// A pooled buffer for what the inbound reads before the dial (a SOCKS5 handshake, the bytes a sniff waited for),
    /// held by the session so that an inbound that needs none, or decides per connection, rents nothing. Early data
    /// points into it until <see cref="ReturnRequestBuffer"/>; the close returns it in any case.
    /// </summary>
    internal Memory<byte> RentRequestBuffer(int size)
    {
        if (_requestBuffer is null || _requestBuffer.Length < size)
        {
            ReturnRequestBuffer();
            _requestBuffer = ArrayPool<byte>.Shared.Rent(size);
        }

        _requestSize = size;
        return _requestBuffer.AsMemory(0, size);
    }

    /// <summary>The buffer <see cref="RentRequestBuffer"/> gave, at the size last asked for.</summary>
    internal Memory<byte> RequestBuffer => _requestBuffer.AsMemory(0, _requestSize);

    /// <summary>Swaps the buffer for one of <paramref name="size"/> bytes, keeping its first <paramref name="keep"/>.</summary>
    internal Memory<byte> GrowRequestBuffer(int size, int keep)
    {
        var grown = ArrayPool<byte>.Shared.Rent(size);
        _requestBuffer.AsSpan(0, keep).CopyTo(grown);
        ReturnRequestBuffer();
        _requestBuffer = grown;
        _requestSize = size;
        return grown.AsMemory(0, size);
    }

    /// <summary>
    /// Established: what only the set-up reads often is packed, and its objects let go (128 bytes of an idle
    /// transparent session). Called once, by the thread that set the session up, before the relay starts.
    /// </summary>
    internal void Settle()
    {
        if (_destination.Address is { } address)
        {
            _packedDestination = new PackedEndPoint(address, _destination.Port);
            Volatile.Write(ref _settled, 1);
            _destination = default;
        }

        _clientEndPoint = null;
    }

    internal void ReturnRequestBuffer()
    {
        if (_requestBuffer is { } buffer)
        {
            _requestBuffer = null;
            _requestSize = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    void IRelayCompletion.RelayEnded(in RelayResult result) => Pipeline!.Relayed(this, result);

    /// <summary>Wakes every pending operation of the session with ECANCELED; the owner then closes it.</summary>
    public void Abort()
    {
        ClientSocket.Abort(Errno.ECANCELED);
        OutboundSocket?.Abort(Errno.ECANCELED);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        State = SessionState.Closing;
        ReturnRequestBuffer();
        Stats.SessionClosed(Counters.BytesUp, Counters.BytesDown);
        _table.Remove(this);
    }
}
