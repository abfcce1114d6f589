using TransparentSocks.Engine.Inbound;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Engine.Configuration;

/// <summary>
/// The one translation from the configuration model to the engine's settings (relay, server, transparent path,
/// dialers), used alike when the daemon starts and when it reloads, so the two can never disagree.
/// </summary>
public static class EngineSettings
{
    public static RelaySettings Relay(TransparentSocksOptions options, TimeSpan idleTimeout) => new()
    {
        Mode = options.Relay.Mode,
        PipeSize = options.Relay.PipeSize,
        BufferSize = options.Relay.BufferSize,
        IdleTimeout = idleTimeout,
    };

    public static Socks5ServerSettings Server(TransparentSocksOptions options)
    {
        var server = options.Server;
        return new Socks5ServerSettings
        {
            Listen = server.ListenEndPoint,
            Users = new UserTable(server.Users.Select(u => new KeyValuePair<string, string>(u.Username!, u.EffectivePassword!))),
            AllowedClients = server.AllowedClientSet,
            DeniedDestinations = server.DeniedDestinationSet,
            DenyHostAddresses = !server.AllowPrivateDestinations,
            HandshakeTimeout = server.HandshakeTimeout,
            ResolveTimeout = options.Upstream.ConnectTimeout,
            MaxHandshakes = server.MaxHandshakes,
            MaxHandshakesPerClient = server.MaxHandshakesPerClient,
            MaxConnections = server.MaxConnections,
            Relay = Relay(options, server.IdleTimeout),
            Udp = server.Udp,
            UdpTimeout = server.UdpTimeout,
            MaxUdpAssociations = server.MaxUdpAssociations,
        };
    }

    public static TransparentSettings Transparent(TransparentSocksOptions options)
    {
        var transparent = options.Transparent;
        return new TransparentSettings
        {
            Mode = transparent.Mode,
            Port = transparent.Port,
            Ipv6 = transparent.IPv6,
            Relay = Relay(options, transparent.IdleTimeout),
            Udp = transparent.Udp,
            UdpTimeout = transparent.UdpTimeout,
            UdpDnsTimeout = transparent.UdpDnsTimeout,
            MaxUdpFlows = transparent.MaxUdpFlows,
            Sniff = transparent.Sniff
                ? new SniffSettings
                {
                    Timeout = transparent.SniffTimeout,
                    SkipPorts = SniffSettings.Ports(transparent.SniffSkipPorts),
                    Override = transparent.SniffOverride,
                    BypassDomains = DomainSuffixSet.Parse(transparent.BypassDomains),
                }
                : SniffSettings.Off,
        };
    }

    /// <summary>
    /// The SO_MARK of every outbound socket. While the transparent path runs they are always marked, or the nft rules
    /// would divert the daemon's own traffic back to itself.
    /// </summary>
    public static uint OutboundMark(TransparentSocksOptions options, bool forTransparentPath = false)
        => options.Upstream.EffectiveMark(forTransparentPath || options.Transparent.Enabled);

    /// <summary>An interface's own <c>proxy</c>: SOCKS5 with the default upstream's timeouts and pooling.</summary>
    public static Socks5DialerSettings Upstream(
        TransparentSocksOptions options, Destination server, string? username, string? password, bool forTransparentPath, EventLoopGroup? poolLoops)
        => Socks5(options.Upstream, server, username, password, OutboundMark(options, forTransparentPath), poolLoops);

    /// <summary>A SOCKS5 upstream as <paramref name="upstream"/> (the default or a named one) configures it.</summary>
    public static Socks5DialerSettings Socks5(UpstreamOptions upstream, Destination server, string? username, string? password, uint mark, EventLoopGroup? poolLoops)
        => new()
        {
            Server = server,
            Username = username,
            Password = password,
            ConnectTimeout = upstream.ConnectTimeout,
            HandshakeTimeout = upstream.HandshakeTimeout,
            Mark = mark,
            Pooling = upstream.Pooling,
            MaxPoolSize = upstream.MaxPoolSize,
            Pipelining = upstream.Pipelining,
            PoolLoops = poolLoops,
        };

    /// <summary>An HTTP CONNECT upstream; it has no pool.</summary>
    public static HttpConnectDialerSettings Http(UpstreamOptions upstream, Destination server, uint mark)
        => new()
        {
            Server = server,
            Username = upstream.Username,
            Password = upstream.EffectivePassword,
            ConnectTimeout = upstream.ConnectTimeout,
            HandshakeTimeout = upstream.HandshakeTimeout,
            Mark = mark,
        };
}
