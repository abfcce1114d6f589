namespace TransparentSocks.Control;

public sealed record ErrorResponse(ErrorBody Error);

/// <param name="Code">One of <see cref="ErrorCodes"/>.</param>
/// <param name="Message">For humans.</param>
/// <param name="Field">The config/request field at fault, when there is one (e.g. "transparent.interfaces[0].name").</param>
public sealed record ErrorBody(string Code, string Message, string? Field = null);

public sealed record MessageResponse(string Message);

public sealed record StatusResponse
{
    public required string Version { get; init; }

    public required long UptimeSeconds { get; init; }

    public required string ConfigPath { get; init; }

    public required SettingsInfo Settings { get; init; }

    public required UpstreamInfo Upstream { get; init; }

    public required ServerInfo Server { get; init; }

    public required TransparentInfo Transparent { get; init; }

    public required IReadOnlyList<InterfaceInfo> Interfaces { get; init; }
}

public sealed record SettingsInfo
{
    public required double IdleTimeoutSeconds { get; init; }

    public required bool Pooling { get; init; }

    public required int MaxPoolSize { get; init; }

    public required bool Verbose { get; init; }

    /// <summary>verbose, debug, information, warning or error.</summary>
    public required string LogLevel { get; init; }
}

public sealed record TransparentInfo
{
    public required bool Enabled { get; init; }

    /// <summary>tproxy or redirect.</summary>
    public required string Mode { get; init; }

    public required int Port { get; init; }

    public required bool Ipv6 { get; init; }

    public required string Fwmark { get; init; }

    public required int RouteTable { get; init; }

    public required long ActiveSessions { get; init; }

    /// <summary>The path's UDP relay; null when UDP is not diverted (<c>transparent.udp</c> off, or the kernel cannot).</summary>
    public TransparentUdpInfo? Udp { get; init; }
}

/// <summary>The transparent path's UDP as a whole: its flow table and its reply sockets, shared by every interface.</summary>
public sealed record TransparentUdpInfo
{
    public required int ActiveFlows { get; init; }

    public required int MaxFlows { get; init; }

    /// <summary>Transparent sockets that send replies from the remote address; each is one fd.</summary>
    public required int ReplySockets { get; init; }

    public required int MaxReplySockets { get; init; }
}

/// <summary>
/// The UDP counters of one inbound: an interface's transparent flows, or the server's UDP ASSOCIATE relays.
/// Up is client to destination.
/// </summary>
public sealed record UdpInfo
{
    /// <summary>Flows (an interface) or associations (the server) open now.</summary>
    public required long ActiveFlows { get; init; }

    public required long TotalFlows { get; init; }

    public required long DatagramsUp { get; init; }

    public required long BytesUp { get; init; }

    public required long DatagramsDown { get; init; }

    public required long BytesDown { get; init; }

    /// <summary>Flows closed early to make room because the table was full.</summary>
    public required long Evicted { get; init; }

    /// <summary>Associations with the upstream that could not be opened.</summary>
    public required long AssociationFailures { get; init; }

    /// <summary>Datagrams not passed on, every reason together.</summary>
    public required long Dropped { get; init; }

    /// <summary>Drops by reason (malformed, fragmented, wrong_source, …): every reason, zeros included.</summary>
    public required IReadOnlyDictionary<string, long> Drops { get; init; }
}

public sealed record UpstreamInfo
{
    /// <summary>"default", a named upstream or group, or "interface:NAME" for an interface's own proxy.</summary>
    public required string Name { get; init; }

    /// <summary>socks5, http, or group.</summary>
    public string Kind { get; init; } = "socks5";

    /// <summary>HOST:PORT, or null when none is configured.</summary>
    public string? Address { get; init; }

    public string? Username { get; init; }

    /// <summary>Whether a password is set. The password itself never leaves the daemon.</summary>
    public required bool HasPassword { get; init; }

    /// <summary>Interfaces (and "server") that use this upstream.</summary>
    public required IReadOnlyList<string> UsedBy { get; init; }

    public required long Connections { get; init; }

    public required long Failures { get; init; }

    /// <summary>Idle pre-authenticated connections in the pool.</summary>
    public required int PooledIdle { get; init; }

    /// <summary>UDP ASSOCIATEs it granted; the ones it refused count in <see cref="Failures"/>.</summary>
    public long UdpAssociations { get; init; }

    /// <summary>For a group: failover, round-robin, least-connections or hash.</summary>
    public string? Policy { get; init; }

    /// <summary>For a group: its members in order, with their health as this group sees it.</summary>
    public IReadOnlyList<GroupMemberInfo>? Members { get; init; }
}

/// <summary>One member of a group and its health.</summary>
public sealed record GroupMemberInfo
{
    public required string Name { get; init; }

    /// <summary>up or down.</summary>
    public required string State { get; init; }

    /// <summary>Why it is down, or the last failure while up: refused, timeout, auth, handshake, target; null when none.</summary>
    public string? Reason { get; init; }

    public string? Detail { get; init; }

    /// <summary>How long the last active check took, in milliseconds; null before the first.</summary>
    public double? LastCheckMs { get; init; }

    public required long Checks { get; init; }

    public required long CheckFailures { get; init; }

    /// <summary>Dials in progress and sessions open through it.</summary>
    public required long InFlight { get; init; }

    /// <summary>When it last went up or down (UTC, ISO 8601); null when it never changed.</summary>
    public string? LastChange { get; init; }

    /// <summary>Failures by reason, checks and real dials together; every reason is listed.</summary>
    public required IReadOnlyDictionary<string, long> Failures { get; init; }
}

public sealed record UpstreamsResponse(IReadOnlyList<UpstreamInfo> Upstreams);

public sealed record ServerInfo
{
    public required bool Running { get; init; }

    public string? Listen { get; init; }

    public required bool AuthRequired { get; init; }

    public required int Users { get; init; }

    /// <summary>direct, or the upstream's name.</summary>
    public required string Outbound { get; init; }

    public required long Accepted { get; init; }

    public required long Rejected { get; init; }

    public required long AuthFailures { get; init; }

    public required long HandshakeFailures { get; init; }

    public required long ActiveSessions { get; init; }

    public required long TotalSessions { get; init; }

    public required long BytesUp { get; init; }

    public required long BytesDown { get; init; }

    /// <summary>Connect failures by reason (timeout, refused, upstream_unavailable, …).</summary>
    public required IReadOnlyDictionary<string, long> Failures { get; init; }

    /// <summary>UDP ASSOCIATE relays; null only from a daemon older than UDP.</summary>
    public UdpInfo? Udp { get; init; }
}

public sealed record InterfaceInfo
{
    public required string Name { get; init; }

    /// <summary>enabled (an interface that is not enabled is not listed).</summary>
    public required string Status { get; init; }

    /// <summary>The upstream it uses: its own proxy, or the default.</summary>
    public required string Proxy { get; init; }

    /// <summary>The named upstream or group it goes through (<c>default</c> without one); null when it has a proxy of its own.</summary>
    public string? Upstream { get; init; }

    /// <summary>0 = unlimited.</summary>
    public required int MaxConnections { get; init; }

    public required long ActiveSessions { get; init; }

    public required long TotalSessions { get; init; }

    public required long Rejected { get; init; }

    /// <summary>From the interface's nft counter: what the kernel diverted.</summary>
    public required long DivertedPackets { get; init; }

    public required long DivertedBytes { get; init; }

    public required long BytesUp { get; init; }

    public required long BytesDown { get; init; }

    public required long ConnectFailures { get; init; }

    public required IReadOnlyDictionary<string, long> Failures { get; init; }

    /// <summary>The interface's UDP flows; null when the path does not divert UDP.</summary>
    public UdpInfo? Udp { get; init; }

    /// <summary>Sessions whose first bytes named a host, by protocol; null when the path does not sniff (<c>transparent.sniff</c> off, or a daemon older than sniffing).</summary>
    public SniffedInfo? Sniffed { get; init; }
}

/// <summary>
/// Transparent sessions of one interface whose first bytes named a usable host, counted per protocol. The names
/// themselves are only in the session list: a count per name would grow without bound.
/// </summary>
public sealed record SniffedInfo
{
    /// <summary>TLS ClientHellos with a server name (SNI).</summary>
    public required long Tls { get; init; }

    /// <summary>HTTP/1.x requests with a host.</summary>
    public required long Http { get; init; }
}

public sealed record SessionInfo
{
    public required long Id { get; init; }

    /// <summary>"server" or the interface name.</summary>
    public required string Inbound { get; init; }

    public required string Client { get; init; }

    public required string Destination { get; init; }

    /// <summary>
    /// The name the client's first bytes carried (TLS SNI or the HTTP Host) on the transparent path, whether or not
    /// it replaced the address in <see cref="Destination"/>; null when nothing was sniffed.
    /// </summary>
    public string? Host { get; init; }

    public string? Upstream { get; init; }

    /// <summary>handshake, connecting, established or closing.</summary>
    public required string State { get; init; }

    /// <summary>Bytes from the client towards the destination.</summary>
    public required long BytesTx { get; init; }

    /// <summary>Bytes from the destination back to the client.</summary>
    public required long BytesRx { get; init; }

    public required double AgeSeconds { get; init; }
}

/// <summary>A UDP flow (transparent) or association (server): datagrams from one client address and port.</summary>
public sealed record UdpSessionInfo
{
    /// <summary>"server" or the interface name.</summary>
    public required string Inbound { get; init; }

    public required string Client { get; init; }

    /// <summary>Where its last datagram went; a flow may send to many destinations.</summary>
    public required string Destination { get; init; }

    public string? Upstream { get; init; }

    /// <summary>connecting, established or failed (the association could not be opened; retried after a pause).</summary>
    public required string State { get; init; }

    /// <summary>Datagrams from the client towards the destination.</summary>
    public required long DatagramsTx { get; init; }

    public required long BytesTx { get; init; }

    /// <summary>Datagrams back to the client.</summary>
    public required long DatagramsRx { get; init; }

    public required long BytesRx { get; init; }

    public required double AgeSeconds { get; init; }

    /// <summary>Since its last datagram either way; the idle timeout counts from here.</summary>
    public required double IdleSeconds { get; init; }
}

/// <param name="Total">TCP sessions that matched, before the limit.</param>
/// <param name="UdpTotal">UDP flows that matched, before the limit (which applies to each list on its own).</param>
/// <param name="UdpFlows">Null only from a daemon older than UDP.</param>
public sealed record SessionsResponse(int Total, IReadOnlyList<SessionInfo> Sessions, int UdpTotal = 0, IReadOnlyList<UdpSessionInfo>? UdpFlows = null);

public sealed record EnableInterfaceRequest
{
    /// <summary>HOST:PORT of the interface's own SOCKS5 upstream; null with no <see cref="Upstream"/> keeps what it uses.</summary>
    public string? Proxy { get; init; }

    /// <summary>
    /// The named upstream or group (or <c>default</c>) it goes through instead of a proxy of its own; mutually
    /// exclusive with <see cref="Proxy"/> and the credentials, which belong to the upstream named.
    /// </summary>
    public string? Upstream { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary>Null keeps the current value (0 for a new interface).</summary>
    public int? MaxConnections { get; init; }
}

public sealed record ServerStartRequest
{
    /// <summary>IP:PORT.</summary>
    public required string Listen { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    /// <summary><c>direct</c>, <c>upstream</c> (the default one), or a named upstream or group; null keeps the current one.</summary>
    public string? Outbound { get; init; }
}

public sealed record SetEndpointRequest
{
    /// <summary>HOST:PORT of the default upstream.</summary>
    public required string Address { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }
}

/// <summary>A named upstream, as <c>upstream add</c> gives it; the name is in the path.</summary>
public sealed record SetUpstreamRequest
{
    /// <summary>HOST:PORT.</summary>
    public required string Address { get; init; }

    /// <summary>socks5 or http; null is socks5.</summary>
    public string? Protocol { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }
}

/// <summary>A group, whole: what is not given takes its default, as in the config file. The name is in the path.</summary>
public sealed record SetGroupRequest
{
    /// <summary>failover, round-robin, least-connections or hash; null is failover.</summary>
    public string? Policy { get; init; }

    /// <summary>Upstreams or groups, in order.</summary>
    public required IReadOnlyList<string> Members { get; init; }

    /// <summary>Seconds between checks of each member (0.1 to 86400); null is 5.</summary>
    public double? Interval { get; init; }

    /// <summary>Seconds one check may take (0.001 to 86400); null is 3.</summary>
    public double? Timeout { get; init; }

    /// <summary>Consecutive failures that mark a member down (1 to 100); null is 2.</summary>
    public int? Failures { get; init; }

    /// <summary>Consecutive successful checks that bring it back (1 to 100); null is 2.</summary>
    public int? Successes { get; init; }

    /// <summary>HOST:PORT each check CONNECTs to through the member; null stops a check after the handshake.</summary>
    public string? Target { get; init; }
}

public sealed record SetTimeoutRequest(double Seconds);

public sealed record SetPoolingRequest(bool Enabled);

public sealed record SetMaxPoolSizeRequest(int Size);

public sealed record SetVerboseRequest(bool Enabled);
