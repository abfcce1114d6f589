using TransparentSocks.Linux.Relay;

namespace TransparentSocks.Engine.Inbound;

public sealed record Socks5ServerSettings
{
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 1080);

    /// <summary>Empty means no authentication.</summary>
    public UserTable Users { get; init; } = new([]);

    /// <summary>Null means every client may connect.</summary>
    public NetworkSet? AllowedClients { get; init; }

    /// <summary>Denied destinations; the listener's own endpoint is always added.</summary>
    public NetworkSet DeniedDestinations { get; init; } = NetworkSet.DefaultDeniedDestinations;

    /// <summary>
    /// Whether every address of the host itself is denied, as loopback is: a service the gateway runs on 0.0.0.0
    /// is not for the proxy's clients. Off only where the deny-list's defaults are off (allowPrivateDestinations).
    /// </summary>
    public bool DenyHostAddresses { get; init; } = true;

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>For names the server resolves itself (direct outbound), before the deny-list sees their addresses.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public int MaxHandshakes { get; init; } = 512;

    /// <summary>Handshakes in progress from one source address; without it one address could hold every slot.</summary>
    public int MaxHandshakesPerClient { get; init; } = 32;

    public int MaxConnections { get; init; } = 10000;

    public RelaySettings Relay { get; init; } = new();

    /// <summary>Whether UDP ASSOCIATE is served; false answers it with reply 0x07 (command not supported).</summary>
    public bool Udp { get; init; } = true;

    /// <summary>An association with no datagram either way for this long is closed, even while its TCP connection is open.</summary>
    public TimeSpan UdpTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public int MaxUdpAssociations { get; init; } = 1024;
}
