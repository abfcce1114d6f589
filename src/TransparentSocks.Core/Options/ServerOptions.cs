using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>The SOCKS5 server inbound (<c>"server"</c>).</summary>
public sealed class ServerOptions
{
    public bool Enabled { get; set; }

    /// <summary><c>IP:PORT</c> or <c>[v6]:PORT</c>; a host name is refused so the bind address is never ambiguous.</summary>
    public string Listen { get; set; } = "127.0.0.1:1080";

    /// <summary>RFC 1929 accounts; empty means no authentication.</summary>
    public List<UserOptions> Users { get; set; } = [];

    /// <summary>An open proxy on a public address is abused within hours, so it has to be asked for by name.</summary>
    public bool AllowNoAuthOnPublicAddress { get; set; }

    /// <summary>CIDRs allowed to connect; empty allows everyone.</summary>
    public List<string> AllowedClients { get; set; } = [];

    /// <summary>CIDRs denied as destinations, on top of <see cref="NetworkSet.DefaultDeniedDestinations"/>.</summary>
    public List<string> DenyDestinations { get; set; } = [];

    /// <summary>Drops the default deny-list; the daemon's own endpoints stay denied regardless (enforced by the engine).</summary>
    public bool AllowPrivateDestinations { get; set; }

    [JsonPropertyName("handshakeTimeout")]
    public double HandshakeTimeoutSeconds { get; set; } = 10;

    public int MaxHandshakes { get; set; } = 512;

    /// <summary>Handshakes in progress from one source address, so one address cannot hold the whole budget.</summary>
    public int MaxHandshakesPerClient { get; set; } = 32;

    [JsonPropertyName("idleTimeout")]
    public double IdleTimeoutSeconds { get; set; } = 300;

    public int MaxConnections { get; set; } = 10000;

    /// <summary>
    /// Where accepted connections go: <c>direct</c>, or the name of an upstream or a group (a proxy chain).
    /// <c>upstream</c> is the default upstream, as in configs from before named upstreams.
    /// </summary>
    public string Outbound { get; set; } = UpstreamNames.Direct;

    /// <summary>Accept UDP ASSOCIATE (RFC 1928 §7); false answers it with 0x07, command not supported.</summary>
    public bool Udp { get; set; } = true;

    /// <summary>How long an association lives without a datagram either way, even while its TCP connection stays open.</summary>
    [JsonPropertyName("udpTimeout")]
    public double UdpTimeoutSeconds { get; set; } = 60;

    /// <summary>Open UDP associations at most; each holds a relay socket besides its TCP connection.</summary>
    public int MaxUdpAssociations { get; set; } = 1024;

    [JsonIgnore]
    public TimeSpan HandshakeTimeout => TimeSpan.FromSeconds(HandshakeTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan IdleTimeout => TimeSpan.FromSeconds(IdleTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan UdpTimeout => TimeSpan.FromSeconds(UdpTimeoutSeconds);

    // The resolved values below are computed on each access so they can never disagree with the raw settings;
    // read them once at startup rather than per connection.

    /// <summary><see cref="Listen"/> as an endpoint; throws <see cref="FormatException"/> if it does not validate.</summary>
    [JsonIgnore]
    public IPEndPoint ListenEndPoint
        => TryParseListen(Listen, out var endPoint, out var error) ? endPoint : throw new FormatException($"server.listen: {error}");

    /// <summary>The clients allowed to connect, or null when everyone is.</summary>
    [JsonIgnore]
    public NetworkSet? AllowedClientSet => AllowedClients.Count == 0 ? null : new NetworkSet(AllowedClients.Select(IpNetwork.Parse));

    /// <summary>The defaults (unless <see cref="AllowPrivateDestinations"/>) plus <see cref="DenyDestinations"/>.</summary>
    [JsonIgnore]
    public NetworkSet DeniedDestinationSet
    {
        get
        {
            var extras = DenyDestinations.Select(IpNetwork.Parse);
            return AllowPrivateDestinations ? new NetworkSet(extras) : NetworkSet.DefaultDeniedDestinations.Union(extras);
        }
    }

    internal static bool TryParseListen(string? text, [NotNullWhen(true)] out IPEndPoint? endPoint, out string? error)
    {
        endPoint = null;
        if (!Destination.TryParse(text, out var destination, out error) || destination.IsDomain)
        {
            error = $"'{text}' is not IP:PORT (write IPv6 as [addr]:port)";
            return false;
        }

        if (destination.Port == 0)
        {
            error = $"'{text}' has port 0; a daemon needs a fixed port";
            return false;
        }

        if (destination.Address.AddressFamily == AddressFamily.InterNetworkV6 && destination.Address.ScopeId != 0)
        {
            error = $"'{text}' has a zone id, which is not supported";
            return false;
        }

        endPoint = new IPEndPoint(destination.Address, destination.Port);
        return true;
    }
}
