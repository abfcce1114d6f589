using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Linux.Relay;

namespace TransparentSocks.Engine.Inbound;

/// <summary>
/// The transparent inbound: per enabled interface, a listener pair (IPv4, IPv6) on the shared divert port, bound to
/// that interface with SO_BINDTODEVICE. The kernel hands each diverted connection to the listener of its ingress
/// interface, so every connection knows where it came from without a port or a mark per interface.
/// </summary>
public sealed class TransparentPath : IAsyncDisposable
{
    private TransparentSettings _settings;
    private readonly ConnectionPipeline _pipeline;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TransparentInterface> _interfaces = new(StringComparer.Ordinal);
    private readonly ConnectionTracker _connections = new();

    // Sessions of an interface outlive its disabling, so a stop aborts by every name the path has served.
    private readonly HashSet<string> _served = new(StringComparer.Ordinal);
    private readonly DestinationPolicy _policy;

    public TransparentPath(TransparentSettings settings, ConnectionPipeline pipeline, ILogger logger, UdpRuntime? udp = null)
    {
        _settings = settings;
        _pipeline = pipeline;
        _logger = logger;

        // A client that connects to the divert port itself (not diverted) would otherwise make us dial ourselves.
        _policy = new DestinationPolicy(NetworkSet.Empty, [new IPEndPoint(IPAddress.Any, settings.Port), new IPEndPoint(IPAddress.IPv6Any, settings.Port)]);
        if (settings.Udp && udp is not null)
        {
            Udp = new TransparentUdp(
                udp, new TransparentUdpSettings(settings.Port, settings.Ipv6, settings.UdpTimeout, settings.UdpDnsTimeout, settings.MaxUdpFlows), _policy, logger);
        }
    }

    /// <summary>The UDP relay of the enabled interfaces; null when UDP is not diverted.</summary>
    public TransparentUdp? Udp { get; }

    public TransparentSettings Settings => Volatile.Read(ref _settings);

    /// <summary>
    /// New limits for sessions and flows: the relay (idle timeout, engine) and the sniff step for sessions accepted from now on, and the
    /// UDP timeouts for every flow. Mode, port, families, <see cref="TransparentSettings.Udp"/> and the flow cap are
    /// kept: changing them rebuilds the path (the flow table is sized once, so that it never allocates).
    /// </summary>
    public void Update(TransparentSettings next)
    {
        Volatile.Write(ref _settings, _settings with
        {
            Relay = next.Relay,
            UdpTimeout = next.UdpTimeout,
            UdpDnsTimeout = next.UdpDnsTimeout,
            Sniff = next.Sniff,
        });
        Udp?.UpdateTimeouts(next.UdpTimeout, next.UdpDnsTimeout);
        foreach (var iface in Interfaces)
        {
            iface.Refresh();
        }
    }

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

        var iface = new TransparentInterface(settings, this, _policy, _pipeline, _connections, _logger);
        iface.Start();
        lock (_lock)
        {
            _interfaces[settings.Name] = iface;
            _served.Add(settings.Name);
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

        string[] served;
        lock (_lock)
        {
            served = [.. _served];
        }

        await _connections.DrainAsync(drain, () =>
        {
            foreach (var name in served)
            {
                _pipeline.Sessions.AbortAll(name);
            }
        }).ConfigureAwait(false);

        lock (_lock)
        {
            _interfaces.Clear();
        }

        Udp?.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}
