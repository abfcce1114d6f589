using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace TransparentSocks.Engine.Policy;

/// <summary>
/// Destinations a proxy must refuse: the deny-list (loopback, link-local, multicast… by default) and the daemon's own
/// listening endpoints, so a client cannot loop the proxy into itself. Checked on addresses, after name resolution,
/// so <c>localhost</c> and <c>::ffff:127.0.0.1</c> are caught like <c>127.0.0.1</c>.
/// </summary>
public sealed class DestinationPolicy
{
    private readonly NetworkSet _denied;
    private readonly IPEndPoint[] _ownEndpoints;
    private readonly HashSet<IPAddress> _localAddresses;

    public DestinationPolicy(NetworkSet denied, IEnumerable<IPEndPoint> ownEndpoints)
    {
        _denied = denied;
        _ownEndpoints = ownEndpoints.ToArray();
        _localAddresses = _ownEndpoints.Any(e => e.Address.Equals(IPAddress.Any) || e.Address.Equals(IPAddress.IPv6Any))
            ? LocalAddresses()
            : [];
    }

    public static DestinationPolicy AllowAll { get; } = new(NetworkSet.Empty, []);

    public bool IsDenied(IPAddress address, int port)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_denied.Contains(address))
        {
            return true;
        }

        foreach (var own in _ownEndpoints)
        {
            if (own.Port != port)
            {
                continue;
            }

            var ownAddress = own.Address.IsIPv4MappedToIPv6 ? own.Address.MapToIPv4() : own.Address;
            if (ownAddress.Equals(address)
                || IPAddress.IsLoopback(address)
                || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
                || ((ownAddress.Equals(IPAddress.Any) || ownAddress.Equals(IPAddress.IPv6Any)) && _localAddresses.Contains(address)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// For dialers that pass names on unresolved (a proxy chain): names that can only mean the local host are
    /// refused wherever loopback is refused, before an upstream resolves them on its side.
    /// </summary>
    public bool IsDeniedName(string host, int port) => IsLocalName(host) && IsDenied(IPAddress.Loopback, port);

    public static bool IsLocalName(string host)
        => host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
           || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
           || host.Equals("localhost.", StringComparison.OrdinalIgnoreCase);

    private static HashSet<IPAddress> LocalAddresses()
    {
        var set = new HashSet<IPAddress>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                {
                    var a = ua.Address;
                    if (a.AddressFamily == AddressFamily.InterNetworkV6 && a.ScopeId != 0)
                    {
                        a = new IPAddress(a.GetAddressBytes());
                    }

                    set.Add(a);
                }
            }
        }
        catch (NetworkInformationException)
        {
            // Without the list, only the explicit checks above apply.
        }

        return set;
    }
}
