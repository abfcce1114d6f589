using System.Net;

namespace TransparentSocks.Addressing;

/// <summary>
/// An immutable set of <see cref="IpNetwork"/> blocks, queried once per connection.
/// IPv4 and IPv6 blocks are kept in separate arrays of (network, mask) pairs so that a lookup reads the address once
/// and scans only its own family; the lists are short, so a linear scan beats anything cleverer.
/// </summary>
public sealed class NetworkSet
{
    private readonly IpNetwork[] _networks;
    private readonly (uint Network, uint Mask)[] _v4;
    private readonly (UInt128 Network, UInt128 Mask)[] _v6;

    public NetworkSet(IEnumerable<IpNetwork> networks)
    {
        ArgumentNullException.ThrowIfNull(networks);
        _networks = networks.Distinct().ToArray();
        _v4 = _networks.Where(n => !n.IsV6).Select(n => (n.V4Network, n.V4Mask)).ToArray();
        _v6 = _networks.Where(n => n.IsV6).Select(n => (n.V6Network, n.V6Mask)).ToArray();
    }

    public static NetworkSet Empty { get; } = new([]);

    /// <summary>
    /// Destinations a proxy must not reach on a client's behalf unless told otherwise: this host (loopback,
    /// 0.0.0.0/8, ::), link-local (which includes cloud metadata at 169.254.169.254), multicast and broadcast.
    /// Private RFC 1918 ranges are deliberately absent: reaching the LAN is a common, legitimate use.
    /// </summary>
    public static NetworkSet DefaultDeniedDestinations { get; } = new(
    [
        IpNetwork.Parse("127.0.0.0/8"),
        IpNetwork.Parse("0.0.0.0/8"),
        IpNetwork.Parse("169.254.0.0/16"),
        IpNetwork.Parse("224.0.0.0/4"),
        IpNetwork.Parse("255.255.255.255/32"),
        IpNetwork.Parse("::1/128"),
        IpNetwork.Parse("::/128"),
        IpNetwork.Parse("fe80::/10"),
        IpNetwork.Parse("ff00::/8"),
    ]);

    public IReadOnlyList<IpNetwork> Networks => _networks;

    public int Count => _networks.Length;

    public bool IsEmpty => _networks.Length == 0;

    /// <summary>True when any block contains the address; IPv4-mapped IPv6 matches IPv4 blocks. Does not allocate.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        IpNetwork.ReadAddress(address, out var isV6, out var value);
        if (isV6)
        {
            foreach (var (network, mask) in _v6)
            {
                if ((value & mask) == network)
                {
                    return true;
                }
            }

            return false;
        }

        var v4 = (uint)value;
        foreach (var (network, mask) in _v4)
        {
            if ((v4 & mask) == network)
            {
                return true;
            }
        }

        return false;
    }

    public NetworkSet Union(IEnumerable<IpNetwork> other) => new(_networks.Concat(other));

    public override string ToString() => string.Join(", ", _networks);
}
