using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests.Support;

/// <summary>Daemon answers built from the Core records, so a change to the contract breaks these tests at compile time.</summary>
public static class Canned
{
    public static SettingsInfo Settings { get; } = new()
    {
        IdleTimeoutSeconds = 300,
        Pooling = true,
        MaxPoolSize = 8,
        Verbose = false,
        LogLevel = "information",
    };

    public static UpstreamInfo DefaultUpstream { get; } = new()
    {
        Name = "default",
        Address = "127.0.0.1:1081",
        Username = "gw",
        HasPassword = true,
        UsedBy = ["eth1", "server"],
        Connections = 12,
        Failures = 1,
        PooledIdle = 2,
        UdpAssociations = 5,
    };

    public static UpstreamInfo Wg0Upstream { get; } = new()
    {
        Name = "interface:wg0",
        Address = "10.8.0.1:1080",
        HasPassword = false,
        UsedBy = ["wg0"],
        Connections = 4,
        Failures = 0,
        PooledIdle = 0,
    };

    public static ServerInfo Server { get; } = new()
    {
        Running = true,
        Listen = "127.0.0.1:1080",
        AuthRequired = true,
        Users = 2,
        Outbound = "default",
        Accepted = 120,
        Rejected = 2,
        AuthFailures = 1,
        HandshakeFailures = 0,
        ActiveSessions = 3,
        TotalSessions = 120,
        BytesUp = 1_572_864,
        BytesDown = 20_971_520,
        Failures = new Dictionary<string, long> { ["timeout"] = 2, ["refused"] = 1 },
        Udp = Udp(active: 1, total: 4) with
        {
            Dropped = 3,
            Drops = Drops(("fragmented", 1), ("wrong_source", 2)),
        },
    };

    public static InterfaceInfo Eth1 { get; } = new()
    {
        Name = "eth1",
        Status = "enabled",
        Proxy = "127.0.0.1:1081",
        MaxConnections = 0,
        ActiveSessions = 2,
        TotalSessions = 10,
        Rejected = 0,
        DivertedPackets = 1234,
        DivertedBytes = 1_258_291,
        BytesUp = 1536,
        BytesDown = 1_572_864,
        ConnectFailures = 3,
        Failures = new Dictionary<string, long> { ["refused"] = 2, ["timeout"] = 1 },
        Udp = Udp(active: 3, total: 14) with
        {
            Evicted = 2,
            AssociationFailures = 1,
            Dropped = 5,
            Drops = Drops(("queue_full", 4), ("malformed", 1)),
        },
        Sniffed = new SniffedInfo { Tls = 7, Http = 2 },
    };

    public static InterfaceInfo Wg0 { get; } = Eth1 with
    {
        Name = "wg0",
        Proxy = "10.8.0.1:1080",
        MaxConnections = 200,
        ConnectFailures = 0,
        Failures = new Dictionary<string, long>(),
        Udp = Udp(active: 0, total: 0),
        Sniffed = new SniffedInfo { Tls = 0, Http = 0 },
    };

    public static StatusResponse Status { get; } = new()
    {
        Version = "0.4.0",
        UptimeSeconds = 11_532,
        ConfigPath = "/etc/transparentsocks/config.json",
        Settings = Settings,
        Upstream = DefaultUpstream,
        Server = Server,
        Transparent = new TransparentInfo
        {
            Enabled = true,
            Mode = "tproxy",
            Port = 12345,
            Ipv6 = true,
            Fwmark = "0x5453",
            RouteTable = 5453,
            ActiveSessions = 2,
            Udp = new TransparentUdpInfo { ActiveFlows = 3, MaxFlows = 4096, ReplySockets = 2, MaxReplySockets = 1024 },
        },
        Interfaces = [Eth1, Wg0],
    };

    public static SessionsResponse Sessions { get; } = new(5,
    [
        new SessionInfo
        {
            Id = 7,
            Inbound = "eth1",
            Client = "192.168.1.20:51234",
            Destination = "93.184.216.34:443",
            Host = "example.com",
            Upstream = "default",
            State = "established",
            BytesTx = 1536,
            BytesRx = 1_572_864,
            AgeSeconds = 192.4,
        },
        new SessionInfo
        {
            Id = 9,
            Inbound = "server",
            Client = "127.0.0.1:40000",
            Destination = "example.com:80",
            Upstream = null,
            State = "connecting",
            BytesTx = 0,
            BytesRx = 0,
            AgeSeconds = 0.2,
        },
    ]);

    /// <summary><see cref="Sessions"/> with UDP flows: two of three shown, one still opening its association.</summary>
    public static SessionsResponse SessionsWithUdp { get; } = Sessions with
    {
        UdpTotal = 3,
        UdpFlows =
        [
            new UdpSessionInfo
            {
                Inbound = "eth1",
                Client = "192.168.1.20:53001",
                Destination = "198.51.100.53:53",
                Upstream = "default",
                State = "established",
                DatagramsTx = 12,
                BytesTx = 840,
                DatagramsRx = 11,
                BytesRx = 2048,
                AgeSeconds = 75.3,
                IdleSeconds = 4.2,
            },
            new UdpSessionInfo
            {
                Inbound = "wg0",
                Client = "[fd00::20]:443",
                Destination = "[2001:db8::1]:443",
                Upstream = null,
                State = "connecting",
                DatagramsTx = 1,
                BytesTx = 1200,
                DatagramsRx = 0,
                BytesRx = 0,
                AgeSeconds = 0.1,
                IdleSeconds = 0.1,
            },
        ],
    };

    /// <summary>Every drop reason the daemon lists, zero unless given.</summary>
    public static Dictionary<string, long> Drops(params (string Reason, long Count)[] counts)
    {
        var drops = new[]
        {
            "malformed", "fragmented", "truncated", "denied", "wrong_source", "upstream_unavailable", "queue_full", "send_failed", "no_reply_socket", "unresolvable",
        }.ToDictionary(r => r, _ => 0L);
        foreach (var (reason, count) in counts)
        {
            drops[reason] = count;
        }

        return drops;
    }

    private static UdpInfo Udp(long active, long total) => new()
    {
        ActiveFlows = active,
        TotalFlows = total,
        DatagramsUp = 40,
        BytesUp = 3200,
        DatagramsDown = 38,
        BytesDown = 1_572_864,
        Evicted = 0,
        AssociationFailures = 0,
        Dropped = 0,
        Drops = Drops(),
    };

    public static UpstreamsResponse Upstreams { get; } = new([DefaultUpstream, Wg0Upstream]);

    public static MessageResponse Message(string text) => new(text);
}
