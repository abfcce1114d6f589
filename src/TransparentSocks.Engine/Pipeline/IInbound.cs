using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Linux.Relay;
using Socks5 = TransparentSocks.Socks;

namespace TransparentSocks.Engine.Pipeline;

/// <summary>
/// A source of connections: a transparent listener, the SOCKS5 server, later the UDP ones. An inbound only turns an
/// accepted client into a request (a destination and early data) and knows how to answer it; everything else about
/// the connection's life is the <see cref="ConnectionPipeline"/>'s.
/// </summary>
public interface IInbound
{
    /// <summary>The inbound's settings as they are now; the pipeline reads it once per connection, at accept.</summary>
    InboundProfile Profile { get; }

    /// <summary>
    /// Reads what the client wants (the SOCKS5 handshake; under TPROXY the socket's own address). A failure has
    /// already been answered and logged by the inbound. <paramref name="buffer"/> is the pipeline's, of
    /// <see cref="InboundProfile.RequestBufferSize"/> bytes; early data points into it.
    /// </summary>
    ValueTask<InboundRequest> ReceiveAsync(Session session, Memory<byte> buffer);

    /// <summary>Tells the client what became of the dial; returns false when the client is gone.</summary>
    ValueTask<bool> ReplyAsync(Session session, DialResult result);
}

/// <param name="Ingress">"server", or the interface's name: the session list, the stats and the logs use it.</param>
/// <param name="Route">Where connections from here go, and what they may not reach.</param>
/// <param name="RepliesInBand">The inbound has a protocol to say "failed" with (SOCKS5); without one (TPROXY) the
/// only honest answer to a failed dial is a reset.</param>
/// <param name="RequestBufferSize">Bytes the inbound needs to read its request; 0 for none.</param>
public sealed record InboundProfile(
    string Ingress,
    InboundStats Stats,
    Admission Admission,
    AdmissionLimits Limits,
    Route Route,
    RelaySettings Relay,
    bool RepliesInBand,
    int RequestBufferSize,
    UdpLimits? Udp = null);

/// <summary>The route step's input: the dialer (direct, an upstream, a group) and the destinations it must refuse.</summary>
/// <param name="ResolveTimeout">For names resolved here, before the policy sees their addresses.</param>
public sealed record Route(IDialer Dialer, DestinationPolicy Policy, TimeSpan ResolveTimeout);

/// <summary>What an inbound read from its client.</summary>
/// <param name="UdpAssociate">The client asked for a UDP relay (SOCKS5 UDP ASSOCIATE); <paramref name="Destination"/>
/// is then where it says its datagrams will come from (zeros when it does not know).</param>
/// <param name="Route">This connection's route when not the profile's: what the request said decided it (a sniffed
/// name in <c>transparent.bypassDomains</c> goes direct).</param>
public readonly record struct InboundRequest(bool Ok, Destination Destination, ReadOnlyMemory<byte> EarlyData, bool UdpAssociate = false, Route? Route = null)
{
    public static InboundRequest Failed => default;

    public static InboundRequest For(Destination destination, ReadOnlyMemory<byte> earlyData = default, Route? route = null)
        => new(true, destination, earlyData, Route: route);

    public static InboundRequest ForUdp(Destination declared) => new(true, declared, default, UdpAssociate: true);
}

/// <summary>An inbound that can ask for a UDP relay, and answers with where the client's datagrams go.</summary>
public interface IUdpInbound
{
    /// <summary>Tells the client the association's outcome: BND is the relay's address on success. False when the client is gone.</summary>
    ValueTask<bool> ReplyAssociatedAsync(Session session, Socks5.Socks5ReplyCode code, IPEndPoint? relay);
}

/// <param name="Timeout">An association with no datagram either way for this long ends.</param>
/// <param name="MaxAssociations">Open at most (0 = no limit); past it, UDP ASSOCIATE gets a general failure.</param>
public sealed record UdpLimits(TimeSpan Timeout, int MaxAssociations)
{
    public static UdpLimits Default { get; } = new(TimeSpan.FromSeconds(60), 1024);
}

/// <param name="AllowedClients">Null lets every source address in.</param>
/// <param name="MaxConnections">Open connections at most (0 = no limit).</param>
/// <param name="MaxHandshakes">Connections still in their handshake at most (0 = no limit); past it, the oldest
/// handshake of the busiest source is evicted for the new one.</param>
/// <param name="MaxHandshakesPerClient">Handshakes in progress from one source address at most (0 = no limit); past
/// it, that address's new connections are refused.</param>
/// <param name="HandshakeIncludesDial">The handshake slot is held until the dial has an outcome, for an inbound whose
/// own request is instant and whose slow step is the dial (the transparent path).</param>
public sealed record AdmissionLimits(
    NetworkSet? AllowedClients, int MaxConnections, int MaxHandshakes, int MaxHandshakesPerClient = 0, bool HandshakeIncludesDial = false)
{
    public static AdmissionLimits None { get; } = new(null, 0, 0);
}
