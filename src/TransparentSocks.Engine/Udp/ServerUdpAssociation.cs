using System.Net.Sockets;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Udp;

/// <summary>
/// One UDP ASSOCIATE of the SOCKS5 server (RFC 1928 §7): a relay socket on the address the client reached us at,
/// taking datagrams only from the client's IP (and its declared port, or the first port it sends from), checking
/// each destination against the policy, and passing them to the outbound leg (direct, or an upstream's relay).
/// It lives as long as the client's TCP connection, and no longer than the idle timeout.
/// </summary>
internal sealed class ServerUdpAssociation : IUdpReceiver, IUdpAssociationOwner, IUdpSweepable
{
    private static readonly byte[] Discard = new byte[64];

    private readonly UdpRuntime _runtime;
    private readonly UdpSocket _relay;
    private readonly UdpAssociation _outbound;
    private readonly LinuxSocket _control;
    private readonly DestinationPolicy _policy;
    private readonly TimeSpan _resolveTimeout;
    private readonly long _idleMs;
    private readonly UdpStats _stats;
    private readonly ILogger _logger;
    private readonly IPEndPoint _clientTcp;
    private readonly UdpEndpoint _clientAddress;
    private readonly byte[] _lastName = new byte[255];
    private int _lastNameLength = -1;
    private UdpEndpoint _lastNameAddress;
    private UdpEndpoint _lastAllowed;
    private bool _hasLastAllowed;
    private bool _resolving;
    private ushort _clientPort;
    private long _lastActive = UdpRuntime.NowMs;
    private bool _closed;
    private string _reason = "client closed the TCP connection";

    private ServerUdpAssociation(
        UdpRuntime runtime, UdpSocket relay, UdpAssociation outbound, LinuxSocket control, IPEndPoint clientTcp, ushort declaredPort,
        Route route, TimeSpan idle, UdpStats stats, ILogger logger)
    {
        _runtime = runtime;
        _relay = relay;
        _outbound = outbound;
        _control = control;
        _policy = route.Policy;
        _resolveTimeout = route.ResolveTimeout;
        _idleMs = (long)idle.TotalMilliseconds;
        _stats = stats;
        _logger = logger;
        _clientTcp = clientTcp;
        _clientAddress = UdpEndpoint.From(new IPEndPoint(clientTcp.Address, 0));
        _clientPort = declaredPort;
        relay.Receiver = this;
        outbound.Owner = this;
    }

    /// <summary>BND.ADDR and BND.PORT for the reply: where the client sends its datagrams.</summary>
    public IPEndPoint RelayEndPoint { get; private init; } = new(IPAddress.Any, 0);

    public long DatagramsUp { get; private set; }

    public long DatagramsDown { get; private set; }

    /// <summary>
    /// Binds the relay socket on <paramref name="local"/> (the address the client's TCP connection reached) and ties
    /// it to <paramref name="outbound"/>. On failure the outbound is closed and the errno returned.
    /// </summary>
    public static Errno TryOpen(
        UdpRuntime runtime, UdpAssociation outbound, LinuxSocket control, IPEndPoint local, IPEndPoint client, Destination declared,
        Route route, TimeSpan idle, UdpStats stats, ILogger logger, out ServerUdpAssociation? association)
    {
        association = null;
        if (local.Address.IsIPv4MappedToIPv6)
        {
            local = new IPEndPoint(local.Address.MapToIPv4(), 0);
        }

        if (client.Address.IsIPv4MappedToIPv6)
        {
            client = new IPEndPoint(client.Address.MapToIPv4(), client.Port);
        }

        lock (runtime.Gate)
        {
            var error = UdpSocket.TryOpen(local.AddressFamily, runtime.Loop, null, out var relay);
            if (error == Errno.None)
            {
                if (relay!.IsIPv6)
                {
                    _ = relay.SetV6Only(true);
                }

                error = relay.Bind(new IPEndPoint(local.Address, 0));
            }

            if (error != Errno.None || !relay!.TryGetLocalEndpoint(out var bound))
            {
                relay?.Close();
                outbound.Close();
                return error == Errno.None ? Errno.EINVAL : error;
            }

            // A declared port is the one datagrams must come from; an address is not checked against the client's
            // own, which behind NAT it often is not: the TCP peer's address is what counts.
            var declaredPort = declared.IsDomain ? (ushort)0 : (ushort)declared.Port;
            association = new ServerUdpAssociation(runtime, relay, outbound, control, client, declaredPort, route, idle, stats, logger)
            {
                RelayEndPoint = bound.ToIPEndPoint(),
            };
            runtime.AddSweepable(association);
            stats.FlowOpened();
            return Errno.None;
        }
    }

    /// <summary>Runs until the client closes its TCP connection, the idle timeout, or the upstream ends the association.</summary>
    public async Task<string> RunAsync()
    {
        try
        {
            while (true)
            {
                var received = await _control.ReceiveAsync(Discard).ConfigureAwait(false);
                if (received.HasError || received.Bytes == 0)
                {
                    break;
                }
            }
        }
        finally
        {
            lock (_runtime.Gate)
            {
                Close();
            }
        }

        return _reason;
    }

    /// <summary>Under the gate.</summary>
    private void Close()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        _relay.Close();
        _outbound.Close();
        _stats.FlowClosed();
        _runtime.RemoveSweepable(this);
    }

    /// <summary>Ends the association from our side: the TCP read wakes and the pipeline closes the connection.</summary>
    private void End(string reason, Errno error)
    {
        _reason = reason;
        _control.Abort(error);
    }

    void IUdpSweepable.Sweep(long nowMs)
    {
        if (!_closed && nowMs - _lastActive >= _idleMs)
        {
            End("idle", Errno.ETIMEDOUT);
        }
    }

    void IUdpAssociationOwner.OnAssociationClosed(UdpAssociation association, string reason) => End(reason, Errno.ECONNRESET);

    public void OnReadable(UdpSocket socket)
    {
        lock (_runtime.Gate)
        {
            try
            {
                Drain();
            }
            catch (Exception ex)
            {
                Log.UdpCrashed(_logger, "server", ex);
            }
        }
    }

    private void Drain()
    {
        var batch = _runtime.Batch;
        while (!_closed && !_runtime.IsDisposed)
        {
            var error = batch.Receive(_relay);
            if (error is Errno.EAGAIN or Errno.EBADF)
            {
                return;
            }

            if (error != Errno.None)
            {
                continue;
            }

            for (var i = 0; i < batch.Count && !_closed; i++)
            {
                if (Forward(batch, i) is { } drop)
                {
                    _stats.Drop(drop);
                }
            }

            _stats.Drop(UdpDropReason.SendFailed, _runtime.Queue.Flush());
        }
    }

    /// <summary>One datagram from the client; the reason when it is dropped.</summary>
    private UdpDropReason? Forward(UdpBatch batch, int slot)
    {
        if (batch.IsTruncated(slot))
        {
            return UdpDropReason.Truncated;
        }

        // Only the client that asked: its TCP peer address, and its port once known. Anyone else who finds the
        // relay port gets nothing through it (an open relay is how UDP proxies are abused).
        if (!batch.TryGetSource(slot, out var source) || source.WithPort(0) != _clientAddress
            || (_clientPort != 0 && source.Port != _clientPort))
        {
            return UdpDropReason.WrongSource;
        }

        var datagram = batch.Datagram(slot);
        if (Socks5UdpFrames.Parse(datagram, out var frame) is { } refused)
        {
            return refused;
        }

        _clientPort = source.Port;
        _lastActive = UdpRuntime.NowMs;
        var payloadAt = UdpBatch.Headroom + frame.HeaderLength;
        var payloadLength = datagram.Length - frame.HeaderLength;
        var address = datagram.Slice(frame.Address.Offset, frame.Address.Length);
        if (frame.Address.Type != Socks5AddressType.DomainName)
        {
            if (!UdpEndpoint.TryFromAddressBytes(address, frame.Address.Port, out var destination))
            {
                return UdpDropReason.Malformed;
            }

            if (!IsAllowed(destination))
            {
                return UdpDropReason.Denied;
            }

            _stats.Drop(UdpDropReason.SendFailed, _outbound.Enqueue(slot, payloadAt, payloadLength, destination));
            CountUp(payloadLength);
            return null;
        }

        if (_outbound.TakesFramed)
        {
            // The upstream resolves the name; only names of this host are refused here, as for CONNECT.
            if (!SameName(address) && _policy.IsDeniedName(System.Text.Encoding.Latin1.GetString(address), frame.Address.Port))
            {
                return UdpDropReason.Denied;
            }

            Remember(address, default);
            _stats.Drop(UdpDropReason.SendFailed, _outbound.EnqueueFramed(slot, UdpBatch.Headroom, datagram.Length));
            CountUp(payloadLength);
            return null;
        }

        // Direct: the name is resolved here, once per name in a row, and the policy sees the address.
        if (SameName(address) && !_lastNameAddress.IsUnspecified)
        {
            // The name was checked with the port it came with; the policy is port-specific (the daemon's own endpoints).
            var resolved = _lastNameAddress.WithPort(frame.Address.Port);
            if (!IsAllowed(resolved))
            {
                return UdpDropReason.Denied;
            }

            _stats.Drop(UdpDropReason.SendFailed, _outbound.Enqueue(slot, payloadAt, payloadLength, resolved));
            CountUp(payloadLength);
            return null;
        }

        if (_resolving)
        {
            return UdpDropReason.QueueFull;
        }

        _resolving = true;
        _ = ResolveThenSendAsync(System.Text.Encoding.Latin1.GetString(address), frame.Address.Port, datagram.Slice(frame.HeaderLength).ToArray());
        return null;
    }

    private async Task ResolveThenSendAsync(string host, ushort port, byte[] payload)
    {
        var (addresses, _) = await Connector.ResolveAsync(Destination.FromHost(host, port), _resolveTimeout, CancellationToken.None).ConfigureAwait(false);
        lock (_runtime.Gate)
        {
            _resolving = false;
            if (_closed)
            {
                return;
            }

            var allowed = Array.Find(addresses, a => !_policy.IsDenied(a, port));
            if (allowed is null)
            {
                _stats.Drop(addresses.Length == 0 ? UdpDropReason.Unresolvable : UdpDropReason.Denied);
                return;
            }

            var destination = UdpEndpoint.From(new IPEndPoint(allowed.IsIPv4MappedToIPv6 ? allowed.MapToIPv4() : allowed, port));
            Remember(System.Text.Encoding.Latin1.GetBytes(host), destination.WithPort(0));
            if (_outbound.SendNow(payload, destination) == Errno.None)
            {
                CountUp(payload.Length);
            }
            else
            {
                _stats.Drop(UdpDropReason.SendFailed);
            }
        }
    }

    private bool SameName(ReadOnlySpan<byte> name) => _lastNameLength == name.Length && name.SequenceEqual(_lastName.AsSpan(0, _lastNameLength));

    private void Remember(ReadOnlySpan<byte> name, UdpEndpoint address)
    {
        name.CopyTo(_lastName);
        _lastNameLength = name.Length;
        _lastNameAddress = address;
    }

    /// <summary>The policy needs an IPAddress; asking only when the destination changes keeps a stream allocation-free.</summary>
    private bool IsAllowed(UdpEndpoint destination)
    {
        if (_hasLastAllowed && _lastAllowed == destination)
        {
            return true;
        }

        var endPoint = destination.ToIPEndPoint();
        if (_policy.IsDenied(endPoint.Address, endPoint.Port))
        {
            return false;
        }

        _lastAllowed = destination;
        _hasLastAllowed = true;
        return true;
    }

    private void CountUp(int length)
    {
        _stats.Up(length);
        DatagramsUp++;
    }

    /// <summary>A reply from <paramref name="source"/>: framed with its address in the headroom and sent to the client.</summary>
    void IUdpAssociationOwner.OnReply(UdpAssociation association, UdpEndpoint source, int slot, int offset, int length)
    {
        if (_closed || _clientPort == 0)
        {
            _stats.Drop(UdpDropReason.WrongSource);
            return;
        }

        _lastActive = UdpRuntime.NowMs;
        var batch = _runtime.Batch;
        Span<byte> address = stackalloc byte[16];
        var header = Socks5Codec.WriteUdpHeaderBefore(batch.Slot(slot)[..offset], address[..source.WriteAddressBytes(address)], source.Port);
        var client = _clientAddress.WithPort(_clientPort);
        if (client.IsIPv4 != !_relay.IsIPv6)
        {
            _stats.Drop(UdpDropReason.SendFailed);
            return;
        }

        _stats.Drop(UdpDropReason.SendFailed, _runtime.Queue.Add(_relay, batch, slot, offset - header, length + header, client));
        _stats.Down(length);
        DatagramsDown++;
    }

    public override string ToString() => $"{_clientTcp} on {RelayEndPoint}";
}
