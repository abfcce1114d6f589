using System.Text.Json.Serialization;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>
/// The transparent path (<c>"transparent"</c>): TCP (and UDP) forwarded through the enabled interfaces is diverted by
/// nft to a local listener and relayed through a SOCKS5 proxy, without the clients being configured for one.
/// </summary>
public sealed class TransparentOptions
{
    public bool Enabled { get; set; }

    public TransparentMode Mode { get; set; } = TransparentMode.Tproxy;

    /// <summary>The listener diverted connections arrive at, bound for IPv4 and IPv6 alike.</summary>
    public int Port { get; set; } = 12345;

    /// <summary>Also divert IPv6; off leaves IPv6 forwarded untouched.</summary>
    [JsonPropertyName("ipv6")]
    public bool IPv6 { get; set; } = true;

    /// <summary>
    /// The mark nft puts on diverted packets so that the policy-routing rule can send them to the local listener.
    /// Must be non-zero and differ from the mark on the proxy's own sockets (<see cref="UpstreamOptions.EffectiveMark"/>).
    /// Accepts a number or a "0x..." string.
    /// </summary>
    [JsonConverter(typeof(SocketMarkConverter))]
    public uint Fwmark { get; set; } = 0x5453;

    /// <summary>The policy-routing table holding the local route for marked packets; not 253-255, which the kernel owns.</summary>
    public int RouteTable { get; set; } = 5453;

    /// <summary>The preference of the <c>ip rule</c> that looks up <see cref="RouteTable"/>; below the main table's 32766.</summary>
    public int RulePriority { get; set; } = 5453;

    /// <summary>Destination CIDRs, IPv4 or IPv6, that are never diverted, on top of the defaults.</summary>
    public List<string> Bypass { get; set; } = [];

    /// <summary>Whether <see cref="DefaultBypassIPv4"/> and <see cref="DefaultBypassIPv6"/> are bypassed too.</summary>
    public bool BypassDefaults { get; set; } = true;

    [JsonPropertyName("idleTimeout")]
    public double IdleTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Also divert the interfaces' forwarded UDP, with tproxy in either mode (REDIRECT cannot keep a datagram's
    /// destination). Under REDIRECT on a kernel without TPROXY the daemon says so at start and leaves UDP alone.
    /// </summary>
    public bool Udp { get; set; } = true;

    /// <summary>How long a UDP flow (one client address and port) lives without a datagram either way.</summary>
    [JsonPropertyName("udpTimeout")]
    public double UdpTimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// The idle timeout of a flow whose datagrams all went to port 53: a lookup is one exchange, and keeping its
    /// association for the full <see cref="UdpTimeoutSeconds"/> would fill <see cref="MaxUdpFlows"/> with finished queries.
    /// </summary>
    [JsonPropertyName("udpDnsTimeout")]
    public double UdpDnsTimeoutSeconds { get; set; } = 10;

    /// <summary>UDP flows at most on the transparent path; past it the flow idle the longest is evicted.</summary>
    public int MaxUdpFlows { get; set; } = 4096;

    /// <summary>
    /// Read a diverted connection's first bytes (a TLS ClientHello, an HTTP/1.x request) for the name the client
    /// wants, before it is dialed: an upstream given a name can route by domain, which an address alone never lets it.
    /// </summary>
    public bool Sniff { get; set; } = true;

    /// <summary>
    /// How long a connection waits for the client's first bytes. A protocol where the server speaks first (SMTP, SSH)
    /// sends nothing, so its connection is dialed this much later than without sniffing.
    /// </summary>
    [JsonPropertyName("sniffTimeout")]
    public double SniffTimeoutSeconds { get; set; } = 0.3;

    /// <summary>Destination ports that are never sniffed, because their server speaks first: dialed at once.</summary>
    public List<int> SniffSkipPorts { get; set; } = [22, 25, 110, 143, 587];

    /// <summary>A sniffed name replaces the address in the upstream's CONNECT; false only records and shows it.</summary>
    public bool SniffOverride { get; set; } = true;

    /// <summary>
    /// Domain suffixes whose sniffed connections go direct from the gateway, not through the upstream: "example.com"
    /// is example.com and every name under it.
    /// </summary>
    public List<string> BypassDomains { get; set; } = [];

    public List<InterfaceOptions> Interfaces { get; set; } = [];

    /// <summary>The longest <see cref="SniffTimeoutSeconds"/>: every connection that sends nothing first waits this long.</summary>
    public const double MaxSniffTimeoutSeconds = 10;

    [JsonIgnore]
    public TimeSpan SniffTimeout => TimeSpan.FromSeconds(SniffTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan IdleTimeout => TimeSpan.FromSeconds(IdleTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan UdpTimeout => TimeSpan.FromSeconds(UdpTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan UdpDnsTimeout => TimeSpan.FromSeconds(UdpDnsTimeoutSeconds);

    /// <summary>
    /// IPv4 destinations that are not the Internet: this-network, private, shared (CGNAT), loopback, link-local,
    /// IETF protocol assignments, multicast and reserved/broadcast.
    /// The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) are left out on purpose: they never
    /// appear on real networks, and labs and tests use them as stand-ins for public addresses that must be diverted.
    /// The benchmarking range 198.18.0.0/15 is left out too: it is the default fake-IP range of sing-box and Clash,
    /// whose connections are exactly the ones that must reach the upstream.
    /// </summary>
    public static IReadOnlyList<IpNetwork> DefaultBypassIPv4 { get; } = Networks(
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4");

    // ::ffff:0:0/96 (IPv4-mapped) is absent because IpNetwork reads a mapped prefix as the IPv4 network it carries,
    // which makes this one 0.0.0.0/0: listing it would bypass every IPv4 destination.
    /// <summary>
    /// IPv6 destinations that are not the Internet: unspecified, loopback, local-use NAT64, discard-only, unique
    /// local, link-local and multicast. The documentation range 2001:db8::/32 is left out on purpose, as for IPv4.
    /// </summary>
    public static IReadOnlyList<IpNetwork> DefaultBypassIPv6 { get; } = Networks(
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8");

    // Computed on each access so it can never disagree with the raw settings; read it once at startup.

    /// <summary>
    /// Every destination never diverted: the defaults (when <see cref="BypassDefaults"/>) followed by
    /// <see cref="Bypass"/>; throws <see cref="FormatException"/> if an entry does not validate.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<IpNetwork> BypassNetworks
    {
        get
        {
            var extras = Bypass.Select(IpNetwork.Parse);
            return (BypassDefaults ? DefaultBypassIPv4.Concat(DefaultBypassIPv6).Concat(extras) : extras).ToArray();
        }
    }

    // Read-only wrappers so that no caller can edit the shared defaults through a cast to an array.
    private static IReadOnlyList<IpNetwork> Networks(params string[] cidrs) => Array.AsReadOnly(cidrs.Select(IpNetwork.Parse).ToArray());
}
