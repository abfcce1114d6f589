namespace TransparentSocks.Engine.Dialing;

/// <summary>
/// Opens the outbound leg of a session. Implementations: <see cref="DirectDialer"/> and <see cref="Socks5Dialer"/>.
/// A group of upstreams with health checks and a pool of pre-authenticated connections implements the same contract,
/// so inbounds and the pipeline never learn which one they use.
/// </summary>
public interface IDialer
{
    /// <summary>A short name for logs, stats and the session list (e.g. "direct", "socks5://127.0.0.1:1081").</summary>
    string Name { get; }

    /// <summary>
    /// Whether a name is resolved on this host (direct) rather than handed to an upstream as it is. The route step
    /// resolves such names itself, so the destination policy sees the addresses that will really be connected to.
    /// </summary>
    bool ResolvesLocally { get; }

    DialerStats Stats { get; }

    /// <summary>Whether <see cref="AssociateAsync"/> can succeed at all: an HTTP CONNECT proxy carries no UDP.</summary>
    bool CarriesUdp => true;

    /// <summary>Never throws for network failures: they come back as <see cref="DialResult"/> values.</summary>
    ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens the outbound leg of one UDP flow on <paramref name="runtime"/>'s loop: a socket of its own (direct) or
    /// a UDP ASSOCIATE with the upstream. Drops on its way back count in <paramref name="stats"/>. Never throws for
    /// network failures.
    /// </summary>
    ValueTask<Udp.UdpAssociateResult> AssociateAsync(Udp.UdpRuntime runtime, UdpStats stats, CancellationToken cancellationToken = default);
}
