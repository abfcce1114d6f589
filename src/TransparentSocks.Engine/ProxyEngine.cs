using TransparentSocks.Engine.Configuration;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Options;

namespace TransparentSocks.Engine;

/// <summary>
/// The engine's front door: the event loops, the session table, the connection pipeline, and the inbounds that
/// feed it. Hosting, the control API and the metrics go through here, not through the pieces behind it.
/// </summary>
public sealed class ProxyEngine : IDisposable
{
    private readonly EventLoopGroup _loops;
    private readonly ConnectionPipeline _pipeline;
    private readonly ILoggerFactory _loggerFactory;
    private Socks5Server? _server;
    private TransparentPath? _transparent;

    public ProxyEngine(int workers, ILoggerFactory loggerFactory)
    {
        _loops = new EventLoopGroup(workers);
        _loggerFactory = loggerFactory;
        Udp = new UdpRuntime(new EventLoop("ts-udp"), loggerFactory.CreateLogger("TransparentSocks.Udp"), ownsLoop: true);
        _pipeline = new ConnectionPipeline(_loops, Sessions, loggerFactory.CreateLogger("TransparentSocks.Pipeline"), Udp);
    }

    /// <summary>The one thread, lock and buffers all UDP relaying shares.</summary>
    public UdpRuntime Udp { get; }

    public int Workers => _loops.Loops.Count;

    public SessionTable Sessions { get; } = new();

    /// <summary>The SOCKS5 server, once it has been started; it stays (not listening) when disabled, keeping its counters.</summary>
    public Socks5Server? Server => _server;

    public TransparentPath? Transparent => _transparent;

    /// <summary>The server (when it exists) and each enabled interface, in the order <c>show</c> lists them.</summary>
    public IReadOnlyList<InboundView> Inbounds()
    {
        var result = new List<InboundView>();
        if (_server is { } server)
        {
            result.Add(new InboundView(Socks5Server.InboundName, null, server.Stats, server.Dialer));
        }

        if (_transparent is { } path)
        {
            var mode = InboundView.PathOf(path.Settings.Mode);
            foreach (var iface in path.Interfaces)
            {
                result.Add(new InboundView(mode, iface.Name, iface.Stats, iface.Dialer));
            }
        }

        return result;
    }

    /// <summary>The transparent path's UDP flows, over every interface; empty when UDP is not diverted.</summary>
    public IReadOnlyList<UdpFlowInfo> UdpFlows() => _transparent?.Udp?.Flows() ?? [];

    /// <summary>Closed plus live bytes of every inbound in <paramref name="inbounds"/>, in one pass.</summary>
    public Traffic Traffic(IReadOnlyList<InboundView> inbounds) => Sessions.Traffic([.. inbounds.Select(i => i.Stats)]);

    /// <summary>
    /// The outbounds <paramref name="options"/> names, with pools on the engine's loops and group checks running.
    /// What <paramref name="previous"/> holds unchanged is carried over; the caller retires the rest of it once the
    /// new catalog is in use (<see cref="UpstreamCatalog.RetireAsync"/>).
    /// </summary>
    public UpstreamCatalog BuildUpstreams(TransparentSocksOptions options, UpstreamCatalog? previous)
        => UpstreamCatalog.Build(options, _loops, previous, _loggerFactory.CreateLogger("TransparentSocks.Upstreams"));

    /// <summary>
    /// Starts the server, or moves it to new settings and a new dialer. Throws
    /// <see cref="System.Net.Sockets.SocketException"/> when the listen address cannot be bound; nothing changed then.
    /// </summary>
    public async Task ApplyServerAsync(TransparentSocksOptions options, IDialer dialer)
    {
        var settings = EngineSettings.Server(options);
        if (_server is null)
        {
            var server = new Socks5Server(settings, dialer, _pipeline, _loggerFactory.CreateLogger("TransparentSocks.Server"));
            server.Start();
            _server = server;
            return;
        }

        await _server.ReconfigureAsync(settings, dialer).ConfigureAwait(false);
        if (!_server.IsListening)
        {
            _server.Start();
        }
    }

    /// <summary>Stops the server and gives its sessions up to <paramref name="drain"/> before aborting them.</summary>
    public Task StopServerAsync(TimeSpan drain) => _server?.StopAsync(drain) ?? Task.CompletedTask;

    /// <summary>Stops accepting on the server; its sessions run to their natural end.</summary>
    public Task StopServerListeningAsync() => _server is { IsListening: true } s ? s.StopListeningAsync() : Task.CompletedTask;

    /// <summary>Creates the transparent inbound (no interface enabled yet). Throws when it already exists.</summary>
    /// <param name="udp">Whether nft diverts UDP to the path: <c>transparent.udp</c>, unless the kernel cannot.</param>
    public TransparentPath OpenTransparent(TransparentSocksOptions options, bool udp)
    {
        if (_transparent is not null)
        {
            throw new InvalidOperationException("the transparent path is already open");
        }

        _transparent = new TransparentPath(
            EngineSettings.Transparent(options) with { Udp = udp }, _pipeline, _loggerFactory.CreateLogger("TransparentSocks.Transparent"), Udp);
        return _transparent;
    }

    /// <summary>New limits (idle timeout, relay mode, UDP timeouts and cap) for transparent sessions and flows from now on.</summary>
    public void UpdateTransparent(TransparentSocksOptions options)
        => _transparent?.Update(EngineSettings.Transparent(options));

    /// <summary>Stops the transparent inbound: listeners first, then its sessions get up to <paramref name="drain"/>.</summary>
    public async Task CloseTransparentAsync(TimeSpan drain)
    {
        var path = _transparent;
        if (path is null)
        {
            return;
        }

        await path.StopAsync(drain).ConfigureAwait(false);
        _transparent = null;
    }

    /// <summary>Stops every inbound and drains their sessions, all within <paramref name="drain"/>.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        var stops = new List<Task>();
        if (_server is not null)
        {
            stops.Add(_server.StopAsync(drain));
        }

        if (_transparent is not null)
        {
            stops.Add(_transparent.StopAsync(drain));
        }

        await Task.WhenAll(stops).ConfigureAwait(false);
    }

    /// <summary>Releases the event loops; <see cref="StopAsync"/> first, or sessions still on them are cut.</summary>
    public void Dispose()
    {
        Udp.Dispose();
        _loops.Dispose();
    }
}

/// <summary>An inbound as reports see it.</summary>
/// <param name="Path">"server", "tproxy" or "redirect": the metrics' <c>path</c> label.</param>
/// <param name="Interface">The interface's name; null for the server.</param>
public sealed record InboundView(string Path, string? Interface, InboundStats Stats, IDialer Dialer)
{
    /// <summary>The <c>path</c> label of the transparent path in <paramref name="mode"/>.</summary>
    public static string PathOf(TransparentMode mode) => mode == TransparentMode.Redirect ? "redirect" : "tproxy";
}
