using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Inbound;

public sealed record TransparentSettings
{
    public TransparentMode Mode { get; init; } = TransparentMode.Tproxy;

    public int Port { get; init; } = 12345;

    public bool Ipv6 { get; init; } = true;

    public RelaySettings Relay { get; init; } = new();

    /// <summary>Whether nft diverts the interfaces' UDP to <see cref="Port"/>; like the mode and port, fixed for the path's life.</summary>
    public bool Udp { get; init; } = true;

    /// <summary>A UDP flow (one client address and port) with no datagram either way for this long is closed.</summary>
    public TimeSpan UdpTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The idle timeout of a flow whose datagrams have all gone to port 53.</summary>
    public TimeSpan UdpDnsTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Flows at most; past it the one idle the longest is evicted.</summary>
    public int MaxUdpFlows { get; init; } = 4096;
}

/// <param name="Name">The interface, as the kernel names it.</param>
/// <param name="Dialer">Its upstream: the default one, or the interface's own proxy.</param>
/// <param name="MaxConnections">0 means no limit.</param>
public sealed record TransparentInterfaceSettings(string Name, IDialer Dialer, int MaxConnections);
