using System.Collections;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;
using TransparentSocks.Sniffing;

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

    /// <summary>What the sniff step does for connections accepted from now on; it may change while the path runs.</summary>
    public SniffSettings Sniff { get; init; } = SniffSettings.Default;
}

/// <summary>The sniff step of the transparent path (<c>transparent.sniff*</c>, <c>transparent.bypassDomains</c>).</summary>
public sealed record SniffSettings
{
    public static SniffSettings Default { get; } = new();

    public static SniffSettings Off { get; } = new() { Enabled = false };

    public bool Enabled { get; init; } = true;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Ports dialed at once, without waiting for the client; a bit per port, so a lookup is one index.</summary>
    public BitArray SkipPorts { get; init; } = Ports([22, 25, 110, 143, 587]);

    /// <summary>A found name replaces the address in the upstream's request; false only records it.</summary>
    public bool Override { get; init; } = true;

    public DomainSuffixSet BypassDomains { get; init; } = DomainSuffixSet.Empty;

    public bool Skips(int port) => (uint)port < (uint)SkipPorts.Length && SkipPorts[port];

    public static BitArray Ports(IEnumerable<int> ports)
    {
        var set = new BitArray(65536);
        foreach (var port in ports)
        {
            if ((uint)port < 65536u)
            {
                set[port] = true;
            }
        }

        return set;
    }
}

/// <param name="Name">The interface, as the kernel names it.</param>
/// <param name="Dialer">Its upstream: the default one, or the interface's own proxy.</param>
/// <param name="MaxConnections">0 means no limit.</param>
/// <param name="Direct">Where sniffed names in <c>transparent.bypassDomains</c> go; null sends them the usual way.</param>
public sealed record TransparentInterfaceSettings(string Name, IDialer Dialer, int MaxConnections, IDialer? Direct = null);
