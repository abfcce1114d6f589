using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Tests;

/// <summary>A real <see cref="Socks5Server"/> on loopback with its own event loops, for tests.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private ServerHarness(EventLoopGroup loops, Socks5Server server, SessionTable sessions, UdpRuntime udp)
    {
        Udp = udp;
        Loops = loops;
        Server = server;
        Sessions = sessions;
    }

    public EventLoopGroup Loops { get; }

    public UdpRuntime Udp { get; }

    public Socks5Server Server { get; }

    public SessionTable Sessions { get; }

    public IPEndPoint EndPoint => Server.LocalEndPoint!;

    public static ServerHarness Start(
        IDialer? dialer = null,
        IEnumerable<(string User, string Password)>? users = null,
        NetworkSet? denied = null,
        NetworkSet? allowedClients = null,
        TimeSpan? handshakeTimeout = null,
        TimeSpan? idleTimeout = null,
        int maxConnections = 10000,
        int maxHandshakes = 512,
        int maxHandshakesPerClient = 32,
        RelayMode engine = RelayMode.Splice,
        IPAddress? listen = null,
        bool udp = true,
        ILogger? logger = null,
        bool denyHostAddresses = false)
    {
        logger ??= NullLogger.Instance;
        var loops = new EventLoopGroup(2);
        var udpRuntime = new UdpRuntime(loops.Next());
        var sessions = new SessionTable();
        var settings = new Socks5ServerSettings
        {
            Listen = new IPEndPoint(listen ?? IPAddress.Loopback, 0),
            Users = new UserTable((users ?? []).Select(u => new KeyValuePair<string, string>(u.User, u.Password))),
            DeniedDestinations = denied ?? NetworkSet.Empty,
            DenyHostAddresses = denyHostAddresses,
            AllowedClients = allowedClients,
            HandshakeTimeout = handshakeTimeout ?? TimeSpan.FromSeconds(10),
            MaxConnections = maxConnections,
            MaxHandshakes = maxHandshakes,
            MaxHandshakesPerClient = maxHandshakesPerClient,
            Relay = new RelaySettings { Mode = engine, IdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5) },
            Udp = udp,
        };
        var server = new Socks5Server(
            settings, dialer ?? new DirectDialer(TimeSpan.FromSeconds(5)), new ConnectionPipeline(loops, sessions, logger, udpRuntime),
            logger);
        server.Start();
        return new ServerHarness(loops, server, sessions, udpRuntime);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.FromSeconds(2));
        Udp.Dispose();
        Loops.Dispose();
    }
}
