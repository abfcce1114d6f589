using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Inbound;

public sealed record TransparentSettings
{
    public TransparentMode Mode { get; init; } = TransparentMode.Tproxy;

    public int Port { get; init; } = 12345;

    public bool Ipv6 { get; init; } = true;

    public RelaySettings Relay { get; init; } = new();

    /// <summary>Relay the interfaces' diverted UDP too.</summary>
    public bool Udp { get; init; } = true;

    public TimeSpan UdpTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan UdpDnsTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxUdpFlows { get; init; } = 4096;
}

/// <param name="Name">The interface, as the kernel names it.</param>
/// <param name="Dialer">Its upstream: the default one, or the interface's own proxy.</param>
/// <param name="MaxConnections">0 means no limit.</param>
public sealed record TransparentInterfaceSettings(string Name, IDialer Dialer, int MaxConnections);
