using System.Buffers;
using System.Net.Sockets;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Policy;

namespace TransparentSocks.Engine.Udp;

/// <param name="Port">The divert port (nft's tproxy target for UDP), shared with TCP.</param>
/// <param name="Timeout">Idle time after which a flow is closed.</param>
/// <param name="DnsTimeout">The same for a flow whose datagrams all went to port 53: a lookup is over in a second.</param>
/// <param name="MaxFlows">Flows at most; over it the least recently used one is closed to make room.</param>
/// <param name="MaxReplySockets">Reply sockets at most (each is one fd).</param>
public sealed record TransparentUdpSettings(
    int Port, bool Ipv6, TimeSpan Timeout, TimeSpan DnsTimeout, int MaxFlows, int MaxReplySockets = 1024);

/// <summary>The key of a transparent flow: the client's address and port, on the interface it came in on.</summary>
internal readonly record struct FlowKey(UdpEndpoint Client, int Ingress);

/// <summary>A row of the flow list, for <c>show sessions</c>.</summary>
public sealed record UdpFlowInfo(
    string Ingress, IPEndPoint Client, IPEndPoint Destination, string Upstream, string State, DateTimeOffset Opened, TimeSpan Idle,
    long DatagramsUp, long BytesUp, long DatagramsDown, long BytesDown);

/// <summary>
/// Transparent UDP: for every enabled interface a TPROXY socket per family (bound to the interface, like the TCP
/// listeners, so a datagram's socket says where it came in) that reads each datagram's original destination from
/// IP_ORIGDSTADDR. Datagrams are grouped into flows by client address and port; each flow has one outbound leg (an
/// upstream UDP ASSOCIATE, or a direct socket) that carries its datagrams to any destination, and replies go back
/// through <see cref="ReplySockets"/> from the address they came from. Flows end when idle, when their association
/// ends, or when the table is full and they are the least recently used.
/// </summary>
public sealed class TransparentUdp : IUdpSweepable, IDisposable
{
    private const int MaxPending = 8;
    private const int MaxConcurrentOpens = 256;
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(2);

    private readonly UdpRuntime _runtime;
    private readonly TransparentUdpSettings _settings;
    private readonly DestinationPolicy _policy;
    private readonly ILogger _logger;
    private readonly LruMap<FlowKey, UdpFlow> _flows;
    private readonly ReplySockets _replies;
    private readonly Dictionary<string, UdpIngress> _ingresses = new(StringComparer.Ordinal);
    private readonly List<(FlowKey Key, UdpFlow Value, long Stamp)> _expired = [];
    private int _nextIngressId;
    private int _opening;
    private TimeSpan _timeout;
    private TimeSpan _dnsTimeout;
    private bool _stopped;

    public TransparentUdp(UdpRuntime runtime, TransparentUdpSettings settings, DestinationPolicy policy, ILogger logger)
    {
        _runtime = runtime;
        _settings = settings;
        _policy = policy;
        _logger = logger;
        _timeout = settings.Timeout;
        _dnsTimeout = settings.DnsTimeout;
        _flows = new LruMap<FlowKey, UdpFlow>(settings.MaxFlows);
        _replies = new ReplySockets(runtime, settings.MaxReplySockets, settings.Timeout);
        runtime.AddSweepable(this);
    }

    public TransparentUdpSettings Settings => _settings;

    /// <summary>Flows open now, over every interface.</summary>
    public int FlowCount
    {
        get
        {
            lock (_runtime.Gate)
            {
                return _flows.Count;
            }
        }
    }

    /// <summary>Reply sockets open now.</summary>
    public int ReplySocketCount
    {
        get
        {
            lock (_runtime.Gate)
            {
                return _replies.Open;
            }
        }
    }

    /// <summary>
    /// Binds the interface's UDP sockets (IPv4, and IPv6 when diverted). Throws <see cref="InvalidOperationException"/>
    /// naming the interface when it cannot; then nothing of it stays bound.
    /// </summary>
    /// <param name="dialer">Read per new flow, so a changed upstream applies to flows opened from then on.</param>
    public void Enable(string name, Func<IDialer> dialer, UdpStats stats)
    {
        lock (_runtime.Gate)
        {
            if (_stopped)
            {
                throw new InvalidOperationException("the UDP relay is stopped");
            }

            if (_ingresses.ContainsKey(name))
            {
                throw new InvalidOperationException($"interface '{name}' already relays UDP");
            }

            var ingress = new UdpIngress(this, name, ++_nextIngressId, dialer, stats);
            try
            {
                ingress.Bind(AddressFamily.InterNetwork);
                if (_settings.Ipv6)
                {
                    ingress.Bind(AddressFamily.InterNetworkV6);
                }
            }
            catch
            {
                ingress.CloseSockets();
                throw;
            }

            _ingresses[name] = ingress;
        }

        Log.UdpInterfaceEnabled(_logger, name, _settings.Port);
    }

    /// <summary>Stops diverting the interface's UDP into us; its flows carry on until idle, as TCP sessions do.</summary>
    public void Disable(string name)
    {
        lock (_runtime.Gate)
        {
            if (_ingresses.Remove(name, out var ingress))
            {
                ingress.CloseSockets();
            }
        }
    }

    /// <summary>Every flow, for the session list.</summary>
    public IReadOnlyList<UdpFlowInfo> Flows()
    {
        lock (_runtime.Gate)
        {
            _expired.Clear();
            _flows.CollectOlderThan(long.MaxValue, _expired);
            var now = UdpRuntime.NowMs;
            var list = new List<UdpFlowInfo>(_expired.Count);
            foreach (var (_, flow, stamp) in _expired)
            {
                list.Add(flow.Describe(TimeSpan.FromMilliseconds(now - stamp)));
            }

            _expired.Clear();
            return list;
        }
    }

    /// <summary>New idle timeouts for every flow, from the next sweep on (a reload). The cap is fixed for the path's life.</summary>
    public void UpdateTimeouts(TimeSpan timeout, TimeSpan dnsTimeout)
    {
        lock (_runtime.Gate)
        {
            _timeout = timeout;
            _dnsTimeout = dnsTimeout;
            _replies.Idle = timeout;
        }
    }

    void IUdpSweepable.Sweep(long nowMs)
    {
        var dns = (long)_dnsTimeout.TotalMilliseconds;
        var all = (long)_timeout.TotalMilliseconds;
        _expired.Clear();
        _flows.CollectOlderThan(nowMs - Math.Min(dns, all), _expired);
        foreach (var (key, flow, stamp) in _expired)
        {
            if (nowMs - stamp >= (flow.DnsOnly ? dns : all))
            {
                Close(key, flow, "idle");
            }
        }

        _expired.Clear();
        _replies.Sweep(nowMs);
    }

    /// <summary>Closes every socket and flow. The nft rules must already be gone, or diverted datagrams would be dropped.</summary>
    public void Dispose()
    {
        lock (_runtime.Gate)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            foreach (var ingress in _ingresses.Values)
            {
                ingress.CloseSockets();
            }

            _ingresses.Clear();
            _expired.Clear();
            _flows.CollectOlderThan(long.MaxValue, _expired);
            foreach (var (key, flow, _) in _expired)
            {
                Close(key, flow, "stopped");
            }

            _expired.Clear();
            _replies.CloseAll();
        }

        _runtime.RemoveSweepable(this);
    }

    /// <summary>One datagram from a client, in the batch's slot <paramref name="slot"/>. Under the gate.</summary>
    private void OnClientDatagram(UdpIngress ingress, int slot, UdpEndpoint client, UdpEndpoint destination, int length, long now)
    {
        // An IPv6 client's datagram to an IPv4-mapped address would reach IPv4 (the gateway's loopback included)
        // past the IPv4 bypass rules; the reply could not come back from a matching source anyway.
        if (destination.IsIPv4 != client.IsIPv4)
        {
            ingress.Stats.Drop(UdpDropReason.Denied);
            return;
        }

        var key = new FlowKey(client, ingress.Id);
        if (!_flows.TryGet(key, out var flow, now))
        {
            if (!IsAllowed(destination))
            {
                ingress.Stats.Drop(UdpDropReason.Denied);
                return;
            }

            // Each open holds a socket and a timer until the upstream answers; a spray of new client ports at a
            // stalling upstream must not turn into an unbounded number of them.
            if (_opening >= MaxConcurrentOpens)
            {
                ingress.Stats.Drop(UdpDropReason.UpstreamUnavailable);
                return;
            }

            flow = new UdpFlow(this, ingress, key, destination);
            if (_flows.Add(key, flow, now, out var evicted))
            {
                ingress.Stats.FlowEvicted();
                evicted.Value.Closed("evicted: the flow table is full");
            }

            ingress.Stats.FlowOpened();
            flow.StartOpen();
        }
        else if (!flow.WasAllowed(destination))
        {
            // The policy needs an IPAddress; a flow remembers the last few destinations it let through, so a client
            // that talks to a handful of servers (a resolver's upstreams, STUN) does not allocate per datagram.
            if (!IsAllowed(destination))
            {
                ingress.Stats.Drop(UdpDropReason.Denied);
                return;
            }

            flow.RememberAllowed(destination);
        }

        flow.Send(slot, length, destination, now);
    }

    private bool IsAllowed(UdpEndpoint destination)
    {
        var endPoint = destination.ToIPEndPoint();
        return !_policy.IsDenied(endPoint.Address, endPoint.Port);
    }

    /// <summary>A reply for <paramref name="flow"/>'s client. Under the gate.</summary>
    private void OnReply(UdpFlow flow, UdpEndpoint source, int slot, int offset, int length)
    {
        var now = UdpRuntime.NowMs;
        _ = _flows.TryGet(flow.Key, out _, now);
        var stats = flow.Ingress.Stats;

        // The client talks to one family; a reply from the other could not be addressed to it from a matching source.
        if (source.IsIPv4 != flow.Key.Client.IsIPv4)
        {
            stats.Drop(UdpDropReason.NoReplySocket);
            return;
        }

        var socket = _replies.Get(source, now);
        if (socket is null)
        {
            stats.Drop(UdpDropReason.NoReplySocket);
            return;
        }

        stats.Drop(UdpDropReason.SendFailed, _runtime.Queue.Add(socket, _runtime.Batch, slot, offset, length, flow.Key.Client));
        stats.Down(length);
        flow.CountDown(length);
    }

    private void Close(FlowKey key, UdpFlow flow, string reason)
    {
        if (_flows.Remove(key, out _))
        {
            flow.Closed(reason);
        }
    }

    /// <summary>One interface's UDP sockets and counters.</summary>
    private sealed class UdpIngress(TransparentUdp owner, string name, int id, Func<IDialer> dialer, UdpStats stats) : IUdpReceiver
    {
        private readonly List<UdpSocket> _sockets = [];

        public string Name { get; } = name;

        public int Id { get; } = id;

        public UdpStats Stats { get; } = stats;

        public IDialer Dialer => dialer();

        public void Bind(AddressFamily family)
        {
            var any = family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
            var error = UdpSocket.TryOpen(family, owner._runtime.Loop, this, out var socket);
            if (error != Errno.None)
            {
                throw new InvalidOperationException($"interface '{Name}': UDP socket: {error.Describe()}");
            }

            _sockets.Add(socket!);
            if (family == AddressFamily.InterNetworkV6)
            {
                _ = socket!.SetV6Only(true);
            }

            error = socket!.SetBindToDevice(Name);
            if (error != Errno.None)
            {
                throw new InvalidOperationException(error == Errno.ENODEV
                    ? $"interface '{Name}' does not exist"
                    : $"interface '{Name}': SO_BINDTODEVICE failed: {error.Describe()}");
            }

            // Reply sockets bound to a remote endpoint on the divert port's number must be able to share it.
            _ = socket.SetReuseAddress();
            if ((error = socket.SetTransparent()) != Errno.None || (error = socket.SetReceiveOriginalDestination()) != Errno.None)
            {
                throw new InvalidOperationException($"interface '{Name}': IP_TRANSPARENT/IP_RECVORIGDSTADDR on the UDP socket failed ({error.Describe()}); TPROXY needs CAP_NET_ADMIN");
            }

            // Bursts (a QUIC handshake, a game tick) arrive faster than one wakeup; the kernel caps this at rmem_max.
            _ = socket.SetReceiveBuffer(1 << 20);
            if ((error = socket.Bind(new IPEndPoint(any, owner._settings.Port))) != Errno.None)
            {
                throw new InvalidOperationException($"interface '{Name}': cannot bind UDP port {owner._settings.Port}: {error.Describe()}");
            }
        }

        public void CloseSockets()
        {
            foreach (var socket in _sockets)
            {
                socket.Close();
            }

            _sockets.Clear();
        }

        public void OnReadable(UdpSocket socket)
        {
            var runtime = owner._runtime;
            lock (runtime.Gate)
            {
                try
                {
                    Drain(socket, runtime);
                }
                catch (Exception ex)
                {
                    Log.UdpCrashed(owner._logger, Name, ex);
                }
                finally
                {
                    // Never leave pointers into the batch behind: the next read would send other datagrams' bytes.
                    Stats.Drop(UdpDropReason.SendFailed, runtime.Queue.Flush());
                }
            }
        }

        private void Drain(UdpSocket socket, UdpRuntime runtime)
        {
            var batch = runtime.Batch;
            while (!socket.IsClosed && !runtime.IsDisposed)
            {
                var error = batch.Receive(socket, withControl: true);
                if (error is Errno.EAGAIN or Errno.EBADF)
                {
                    return;
                }

                if (error != Errno.None)
                {
                    continue;
                }

                var now = UdpRuntime.NowMs;
                for (var i = 0; i < batch.Count; i++)
                {
                    if (batch.IsTruncated(i))
                    {
                        Stats.Drop(UdpDropReason.Truncated);
                        continue;
                    }

                    if (!batch.TryGetSource(i, out var client) || !batch.TryGetOriginalDestination(i, out var destination))
                    {
                        // Not diverted (sent to the divert port directly): there is nowhere to send it.
                        Stats.Drop(UdpDropReason.Malformed);
                        continue;
                    }

                    owner.OnClientDatagram(this, i, client, destination, batch.Length(i), now);
                }

                Stats.Drop(UdpDropReason.SendFailed, runtime.Queue.Flush());
            }
        }
    }

    /// <summary>One client port's flow: its association and, while that opens, the few datagrams that wait for it.</summary>
    private sealed class UdpFlow(TransparentUdp owner, UdpIngress ingress, FlowKey key, UdpEndpoint firstDestination) : IUdpAssociationOwner
    {
        private readonly DateTimeOffset _opened = DateTimeOffset.UtcNow;
        private (byte[] Buffer, int Length, UdpEndpoint Destination)[]? _pending;
        private int _pendingCount;
        private readonly UdpEndpoint[] _allowed = [firstDestination, default, default, default];
        private int _nextAllowed = 1;
        private UdpAssociation? _association;
        private CancellationTokenSource? _open;
        private bool _opening;
        private bool _closed;
        private long _retryAt;
        private string _upstream = "";
        private long _datagramsUp;
        private long _bytesUp;
        private long _datagramsDown;
        private long _bytesDown;

        public FlowKey Key { get; } = key;

        public UdpIngress Ingress { get; } = ingress;

        public bool WasAllowed(UdpEndpoint destination) => Array.IndexOf(_allowed, destination) >= 0 && !destination.Equals(default(UdpEndpoint));

        public void RememberAllowed(UdpEndpoint destination)
        {
            _allowed[_nextAllowed] = destination;
            _nextAllowed = (_nextAllowed + 1) % _allowed.Length;
        }

        /// <summary>The last destination, for the session list.</summary>
        public UdpEndpoint Destination { get; private set; } = firstDestination;

        /// <summary>Every datagram so far went to port 53: the flow gets the short DNS timeout.</summary>
        public bool DnsOnly { get; private set; } = true;

        public void StartOpen()
        {
            var dialer = Ingress.Dialer;
            _upstream = dialer.Name;
            _opening = true;
            owner._opening++;
            var open = new CancellationTokenSource();
            _open = open;
            _ = OpenAsync(dialer, open);
        }

        private async Task OpenAsync(IDialer dialer, CancellationTokenSource open)
        {
            var cancellationToken = open.Token;
            UdpAssociateResult result;
            try
            {
                result = await dialer.AssociateAsync(owner._runtime, Ingress.Stats, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                result = UdpAssociateResult.Fail(DialError.Other, "the flow closed while its association opened");
            }
            catch (Exception ex)
            {
                Log.UdpCrashed(owner._logger, Ingress.Name, ex);
                result = UdpAssociateResult.Fail(DialError.UpstreamProtocolError, ex.Message);
            }

            lock (owner._runtime.Gate)
            {
                _opening = false;
                owner._opening--;

                // Whoever takes the source from the field disposes it: here, or Closed after its Cancel returns.
                if (ReferenceEquals(_open, open))
                {
                    _open = null;
                    open.Dispose();
                }

                if (_closed)
                {
                    result.Association?.Close();
                    return;
                }

                if (!result.Succeeded)
                {
                    Ingress.Stats.OpenFailed();
                    Ingress.Stats.Drop(UdpDropReason.UpstreamUnavailable, _pendingCount);
                    ReleasePending();
                    _retryAt = UdpRuntime.NowMs + (long)RetryAfterFailure.TotalMilliseconds;
                    Log.UdpAssociateFailed(owner._logger, Ingress.Name, Key.Client, _upstream, result.ToString());
                    return;
                }

                _association = result.Association!;

                // An association the upstream already ended calls OnAssociationClosed from here, closing the flow.
                _association.Owner = this;
                if (_closed || _association is null)
                {
                    return;
                }

                Log.UdpFlowOpened(owner._logger, Ingress.Name, Key.Client, Destination, _upstream);
                for (var i = 0; i < _pendingCount; i++)
                {
                    var (buffer, length, destination) = _pending![i];
                    if (_association.SendNow(buffer.AsSpan(0, length), destination) == Errno.None)
                    {
                        CountUp(length);
                    }
                    else
                    {
                        Ingress.Stats.Drop(UdpDropReason.SendFailed);
                    }
                }

                ReleasePending();
            }
        }

        /// <summary>A client datagram for this flow. Under the gate.</summary>
        public void Send(int slot, int length, UdpEndpoint destination, long now)
        {
            Destination = destination;
            DnsOnly &= destination.Port == 53;
            if (_association is { } association)
            {
                Ingress.Stats.Drop(UdpDropReason.SendFailed, association.Enqueue(slot, UdpBatch.Headroom, length, destination));
                CountUp(length);
                return;
            }

            if (!_opening)
            {
                if (now < _retryAt)
                {
                    Ingress.Stats.Drop(UdpDropReason.UpstreamUnavailable);
                    return;
                }

                StartOpen();

                // A dialer that answers at once (direct) has opened it already: this datagram goes out now.
                if (_association is { } opened)
                {
                    Ingress.Stats.Drop(UdpDropReason.SendFailed, opened.Enqueue(slot, UdpBatch.Headroom, length, destination));
                    CountUp(length);
                    return;
                }

                if (_closed || !_opening)
                {
                    Ingress.Stats.Drop(UdpDropReason.UpstreamUnavailable);
                    return;
                }
            }

            // Waiting for the association: keep a few, so a DNS query or a QUIC Initial is not lost to the setup.
            _pending ??= new (byte[], int, UdpEndpoint)[MaxPending];
            if (_pendingCount == MaxPending || !_opening)
            {
                Ingress.Stats.Drop(UdpDropReason.QueueFull);
                return;
            }

            var copy = ArrayPool<byte>.Shared.Rent(length);
            owner._runtime.Batch.Datagram(slot).CopyTo(copy);
            _pending[_pendingCount++] = (copy, length, destination);
        }

        private void CountUp(int length)
        {
            Ingress.Stats.Up(length);
            _datagramsUp++;
            _bytesUp += length;
        }

        public void CountDown(int length)
        {
            _datagramsDown++;
            _bytesDown += length;
        }

        void IUdpAssociationOwner.OnReply(UdpAssociation association, UdpEndpoint source, int slot, int offset, int length)
        {
            if (!_closed)
            {
                owner.OnReply(this, source, slot, offset, length);
            }
        }

        void IUdpAssociationOwner.OnAssociationClosed(UdpAssociation association, string reason)
        {
            _association = null;
            owner.Close(Key, this, reason);
        }

        /// <summary>Out of the table already; closes what it holds. Under the gate.</summary>
        public void Closed(string reason)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;

            // Cancelling can run the open's continuation right here (it takes the gate again, which is reentrant).
            var open = _open;
            _open = null;
            open?.Cancel();
            open?.Dispose();
            _association?.Close();
            _association = null;
            ReleasePending();
            Ingress.Stats.FlowClosed();
            Log.UdpFlowClosed(owner._logger, Ingress.Name, Key.Client, reason, _datagramsUp, _datagramsDown);
        }

        private void ReleasePending()
        {
            for (var i = 0; i < _pendingCount; i++)
            {
                ArrayPool<byte>.Shared.Return(_pending![i].Buffer);
            }

            // The queue is only needed while an association opens; a flow can live for hours without it.
            _pending = null;
            _pendingCount = 0;
        }

        public UdpFlowInfo Describe(TimeSpan idle) => new(
            Ingress.Name, Key.Client.ToIPEndPoint(), Destination.ToIPEndPoint(), _upstream,
            _association is not null ? "established" : _opening ? "connecting" : "failed",
            _opened, idle, _datagramsUp, _bytesUp, _datagramsDown, _bytesDown);
    }
}
