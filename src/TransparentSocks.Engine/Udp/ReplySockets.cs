using System.Net.Sockets;

namespace TransparentSocks.Engine.Udp;

/// <summary>
/// The sockets replies to transparent clients leave from. A reply must come from the address and port the client
/// sent to (or, full-cone, from whichever remote answered), so each is an IP_TRANSPARENT socket bound to that remote
/// endpoint, and one serves every client that hears from it. They are cached with a hard cap and least-recently-used
/// eviction, so the fds they cost are bounded whatever the traffic, and a reply never opens one per datagram.
/// </summary>
/// <remarks>
/// A reply socket never takes a port of a service on this host: it is never bound to an address of this host (a
/// probe bind without IP_TRANSPARENT tells), and, bound to a remote address, it matches no datagram addressed to
/// the host. SO_REUSEADDR lets it coexist with a local wildcard listener on the same port number (dnsmasq on
/// 0.0.0.0:53 while clients ask 203.0.113.2:53); a listener that refuses to share makes the bind fail, and that
/// reply is dropped and counted rather than the listener disturbed.
/// </remarks>
internal sealed class ReplySockets : IUdpReceiver
{
    // A refusal is retried after this, however often the remote talks: a passing EMFILE must not drop its replies for good.
    private const long RefusalRetryMs = 5000;

    private readonly UdpRuntime _runtime;

    // A null value is a remembered refusal (a local address, a port that cannot be shared), so a stream of replies
    // from it costs one probe, not one per datagram.
    private readonly LruMap<UdpEndpoint, UdpSocket?> _sockets;
    private readonly List<(UdpEndpoint Key, UdpSocket? Value, long Stamp)> _expired = [];

    public ReplySockets(UdpRuntime runtime, int capacity, TimeSpan idle)
    {
        _runtime = runtime;
        Idle = idle;
        _sockets = new LruMap<UdpEndpoint, UdpSocket?>(capacity);
    }

    /// <summary>Open reply sockets (refusals not counted).</summary>
    public int Open { get; private set; }

    public int Capacity => _sockets.Capacity;

    /// <summary>How long an unused reply socket stays open; changes with the flows' timeout on reload.</summary>
    public TimeSpan Idle { get; set; }

    /// <summary>The socket to reply from <paramref name="source"/>; null when there can be none. Under the gate.</summary>
    public UdpSocket? Get(UdpEndpoint source, long now)
    {
        // A socket is touched on use; a refusal keeps its first stamp, so it is retried once it is old enough.
        if (_sockets.TryPeek(source, out var cached, out var stamp))
        {
            if (cached is not null)
            {
                _ = _sockets.TryGet(source, out _, now);
                return cached;
            }

            if (now - stamp < RefusalRetryMs)
            {
                return null;
            }

            _ = _sockets.Remove(source, out _);
        }

        var socket = OpenFor(source);
        if (_sockets.Add(source, socket, now, out var evicted))
        {
            Release(evicted.Value);
        }

        if (socket is not null)
        {
            Open++;
        }

        return socket;
    }

    /// <summary>Closes the sockets no reply has used for the idle time.</summary>
    public void Sweep(long now)
    {
        _expired.Clear();
        _sockets.CollectOlderThan(now - (long)Idle.TotalMilliseconds, _expired);
        foreach (var (key, _, _) in _expired)
        {
            if (_sockets.Remove(key, out var socket))
            {
                Release(socket);
            }
        }
    }

    public void CloseAll()
    {
        _expired.Clear();
        _sockets.CollectOlderThan(long.MaxValue, _expired);
        foreach (var (key, _, _) in _expired)
        {
            if (_sockets.Remove(key, out var socket))
            {
                Release(socket);
            }
        }
    }

    private void Release(UdpSocket? socket)
    {
        if (socket is not null)
        {
            socket.Close();
            Open--;
        }
    }

    private UdpSocket? OpenFor(UdpEndpoint source)
    {
        if (source.IsUnspecified || source.Port == 0 || IsLocal(source))
        {
            return null;
        }

        if (UdpSocket.TryOpen(source.Family, _runtime.Loop, this, out var socket) != Errno.None)
        {
            return null;
        }

        if (socket!.IsIPv6)
        {
            _ = socket.SetV6Only(true);
        }

        // Nothing is ever read from a reply socket; a small buffer caps what a stray datagram to it can hold.
        _ = socket.SetReceiveBuffer(4096);
        if (socket.SetReuseAddress() != Errno.None || socket.SetTransparent() != Errno.None || socket.Bind(source) != Errno.None)
        {
            socket.Close();
            return null;
        }

        return socket;
    }

    /// <summary>
    /// Whether <paramref name="address"/> is one of this host's. A UDP connect makes the kernel pick the source it
    /// would send from, without sending anything: for an address of this host that is the address itself. (A probe
    /// bind would not do: with ip_nonlocal_bind, common on VRRP routers, every bind succeeds.)
    /// </summary>
    private bool IsLocal(UdpEndpoint address)
    {
        if (UdpSocket.TryOpen(address.Family, _runtime.Loop, null, out var probe) != Errno.None)
        {
            return true;
        }

        try
        {
            if (probe!.IsIPv6)
            {
                _ = probe.SetV6Only(true);
            }

            var error = probe.Connect(address.WithPort(9));
            if (error is Errno.ENETUNREACH or Errno.EHOSTUNREACH)
            {
                return false;
            }

            return error != Errno.None || !probe.TryGetLocalEndpoint(out var source) || source.WithPort(0) == address.WithPort(0);
        }
        finally
        {
            probe!.Close();
        }
    }

    /// <summary>Nothing should arrive; whatever does is read and dropped so it cannot pile up.</summary>
    public void OnReadable(UdpSocket socket)
    {
        lock (_runtime.Gate)
        {
            if (_runtime.IsDisposed)
            {
                return;
            }

            while (_runtime.Batch.Receive(socket) == Errno.None)
            {
            }
        }
    }
}
