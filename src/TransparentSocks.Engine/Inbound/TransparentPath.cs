using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Logging;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Nft;

namespace TransparentSocks.Engine.Inbound;

public sealed record TransparentSettings
{
    public DivertMode Mode { get; init; } = DivertMode.Tproxy;

    public int Port { get; init; } = 12345;

    public bool Ipv6 { get; init; } = true;

    public RelaySettings Relay { get; init; } = new();
}

/// <param name="Name">The interface, as the kernel names it.</param>
/// <param name="Dialer">Its upstream: the default one, or the interface's own proxy.</param>
/// <param name="MaxConnections">0 means no limit.</param>
public sealed record TransparentInterfaceSettings(string Name, IDialer Dialer, int MaxConnections);

/// <summary>
/// The transparent inbound: per enabled interface, a listener pair (IPv4, IPv6) on the shared divert port, bound to
/// that interface with SO_BINDTODEVICE. The kernel hands each diverted connection to the listener of its ingress
/// interface, so every connection knows where it came from without a port or a mark per interface.
/// </summary>
public sealed class TransparentPath : IAsyncDisposable
{
    private TransparentSettings _settings;
    private readonly EventLoopGroup _loops;
    private readonly SessionTable _sessions;
    private readonly Dispatcher _dispatcher;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TransparentInterface> _interfaces = new(StringComparer.Ordinal);
    private readonly DestinationPolicy _policy;

    public TransparentPath(TransparentSettings settings, EventLoopGroup loops, SessionTable sessions, Dispatcher dispatcher, ILogger logger)
    {
        _settings = settings;
        _loops = loops;
        _sessions = sessions;
        _dispatcher = dispatcher;
        _logger = logger;

        // A client that connects to the divert port itself (not diverted) would otherwise make us dial ourselves.
        _policy = new DestinationPolicy(NetworkSet.Empty, [new IPEndPoint(IPAddress.Any, settings.Port), new IPEndPoint(IPAddress.IPv6Any, settings.Port)]);
    }

    public TransparentSettings Settings => Volatile.Read(ref _settings);

    /// <summary>New relay settings (idle timeout, engine) for sessions accepted from now on.</summary>
    public void UpdateRelay(RelaySettings relay) => Volatile.Write(ref _settings, _settings with { Relay = relay });

    public IReadOnlyList<TransparentInterface> Interfaces
    {
        get
        {
            lock (_lock)
            {
                return [.. _interfaces.Values.OrderBy(i => i.Name, StringComparer.Ordinal)];
            }
        }
    }

    public bool TryGet(string name, out TransparentInterface? iface)
    {
        lock (_lock)
        {
            return _interfaces.TryGetValue(name, out iface);
        }
    }

    /// <summary>Binds the interface's listeners. Throws <see cref="InvalidOperationException"/> naming the interface when it cannot.</summary>
    public TransparentInterface Enable(TransparentInterfaceSettings settings)
    {
        lock (_lock)
        {
            if (_interfaces.ContainsKey(settings.Name))
            {
                throw new InvalidOperationException($"interface '{settings.Name}' is already enabled");
            }
        }

        var iface = new TransparentInterface(settings, this, _policy, _loops, _sessions, _dispatcher, _logger);
        iface.Start();
        lock (_lock)
        {
            _interfaces[settings.Name] = iface;
        }

        return iface;
    }

    /// <summary>Stops accepting on the interface. Sessions already running continue to their natural end.</summary>
    public async Task DisableAsync(string name)
    {
        TransparentInterface? iface;
        lock (_lock)
        {
            if (!_interfaces.Remove(name, out iface))
            {
                return;
            }
        }

        await iface.StopAcceptingAsync().ConfigureAwait(false);
    }

    /// <summary>Stops accepting everywhere, then waits up to <paramref name="drain"/> for sessions before aborting them.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        var all = Interfaces;
        foreach (var iface in all)
        {
            await iface.StopAcceptingAsync().ConfigureAwait(false);
        }

        var pending = all.SelectMany(i => i.PendingConnections).ToArray();
        if (pending.Length > 0)
        {
            var done = Task.WhenAll(pending);
            if (await Task.WhenAny(done, Task.Delay(drain)).ConfigureAwait(false) != done)
            {
                foreach (var iface in all)
                {
                    _sessions.AbortAll(iface.Name);
                }

                await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            }
        }

        lock (_lock)
        {
            _interfaces.Clear();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}

/// <summary>One enabled interface: its listeners, limits, dialer and statistics.</summary>
public sealed class TransparentInterface : IInboundReply
{
    private readonly TransparentPath _owner;
    private readonly TransparentSettings _path;
    private readonly DestinationPolicy _policy;
    private TransparentInterfaceSettings _settings;
    private readonly EventLoopGroup _loops;
    private readonly SessionTable _sessions;
    private readonly Dispatcher _dispatcher;
    private readonly ILogger _logger;
    private readonly List<LinuxSocket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConnectionTracker _connections = new();
    private volatile bool _stopping;

    internal TransparentInterface(
        TransparentInterfaceSettings settings, TransparentPath owner, DestinationPolicy policy, EventLoopGroup loops,
        SessionTable sessions, Dispatcher dispatcher, ILogger logger)
    {
        _settings = settings;
        _owner = owner;

        // Mode, port and family are fixed for the life of the listeners; the relay settings are read per connection.
        _path = owner.Settings;
        _policy = policy;
        _loops = loops;
        _sessions = sessions;
        _dispatcher = dispatcher;
        _logger = logger;
        Stats = new InboundStats(settings.Name);
    }

    public string Name => _settings.Name;

    public IDialer Dialer => Volatile.Read(ref _settings).Dialer;

    public int MaxConnections => Volatile.Read(ref _settings).MaxConnections;

    /// <summary>A new upstream or limit for connections accepted from now on; running sessions keep theirs.</summary>
    public void Update(TransparentInterfaceSettings settings)
    {
        if (settings.Name != Name)
        {
            throw new ArgumentException("an interface cannot be renamed", nameof(settings));
        }

        Volatile.Write(ref _settings, settings);
    }

    public InboundStats Stats { get; }

    internal Task[] PendingConnections => _connections.Pending;

    internal void Start()
    {
        try
        {
            Listen(new IPEndPoint(IPAddress.Any, _path.Port));
            if (_path.Ipv6)
            {
                Listen(new IPEndPoint(IPAddress.IPv6Any, _path.Port));
            }
        }
        catch
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }

            _listeners.Clear();
            throw;
        }

        foreach (var listener in _listeners)
        {
            _acceptLoops.Add(AcceptLoopAsync(listener));
        }

        Log.InterfaceEnabled(_logger, Name, _path.Mode.ToString().ToLowerInvariant(), _path.Port, Dialer.Name);
    }

    private void Listen(IPEndPoint endPoint)
    {
        try
        {
            _listeners.Add(LinuxSocket.Listen(endPoint, _loops.Next(), beforeBind: socket =>
            {
                var error = socket.SetBindToDevice(Name);
                if (error != Errno.None)
                {
                    throw new InvalidOperationException(error == Errno.ENODEV
                        ? $"interface '{Name}' does not exist"
                        : $"interface '{Name}': SO_BINDTODEVICE failed: {error.Describe()}");
                }

                if (_path.Mode == DivertMode.Tproxy)
                {
                    error = socket.SetTransparent(endPoint.AddressFamily);
                    if (error != Errno.None)
                    {
                        throw new InvalidOperationException($"interface '{Name}': IP_TRANSPARENT failed ({error.Describe()}); TPROXY needs CAP_NET_ADMIN");
                    }
                }
            }));
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"interface '{Name}': cannot listen on {endPoint}: {ex.Message}", ex);
        }
    }

    private Task AcceptLoopAsync(LinuxSocket listener)
        => AcceptLoop.RunAsync(listener, listener.GetLocalEndPoint() ?? new IPEndPoint(IPAddress.Any, _path.Port), () => _stopping, Stats, HandleAsync, _connections, _logger);

    private async Task HandleAsync(int fd, IPEndPoint remote)
    {
        var client = LinuxSocket.Adopt(fd, _loops.Next(), alreadyNonBlocking: true);
        var reset = true;
        var settings = Volatile.Read(ref _settings);
        try
        {
            if (settings.MaxConnections > 0 && Stats.Active >= settings.MaxConnections)
            {
                Stats.ConnectionRejected();
                Log.ConnectionRejected(_logger, remote, $"{Name}: maxConnections ({settings.MaxConnections}) reached");
                return;
            }

            var destination = OriginalDestination(client, remote.AddressFamily);
            if (destination is null)
            {
                Stats.HandshakeFailed();
                Log.ConnectionRejected(_logger, remote, $"{Name}: no original destination (connected to the divert port directly?)");
                return;
            }

            _ = client.SetNoDelay();
            using var session = _sessions.Open(Name, client, remote, Stats);
            session.Destination = Destination.FromEndPoint(Normalize(destination));
            await _dispatcher.RunAsync(session, settings.Dialer, _policy, this, ReadOnlyMemory<byte>.Empty, _owner.Settings.Relay).ConfigureAwait(false);
            reset = false;
        }
        catch (Exception ex)
        {
            // Input from the network must never take the daemon down; a bug here costs one connection.
            Log.SessionCrashed(_logger, 0, ex);
        }
        finally
        {
            client.Close(reset);
        }
    }

    private IPEndPoint? OriginalDestination(LinuxSocket client, AddressFamily family)
    {
        if (_path.Mode == DivertMode.Tproxy)
        {
            // TPROXY leaves the packet's destination alone, so the accepted socket's local address is it.
            return client.GetLocalEndPoint();
        }

        return client.GetOriginalDestination(family, out _);
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    ValueTask<bool> IInboundReply.ReplyAsync(Session session, DialResult result)
    {
        if (result.Succeeded)
        {
            return ValueTask.FromResult(true);
        }

        // Nothing to say in-band on a transparent connection: an immediate reset is the fastest honest answer.
        _ = session.ClientSocket.SetLingerZero();
        return ValueTask.FromResult(false);
    }

    internal async Task StopAcceptingAsync()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        foreach (var listener in _listeners)
        {
            listener.Abort(Errno.ECANCELED);
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        Log.InterfaceDisabled(_logger, Name);
    }
}
