namespace TransparentSocks.Engine.Policy;

/// <summary>
/// Destinations a proxy must refuse: the deny-list (loopback, link-local, multicast… by default), the host's own
/// addresses (with the deny-list's defaults), and the daemon's own listening endpoints, so a client cannot loop
/// the proxy into itself or reach services the gateway runs for itself. Checked on addresses, after name
/// resolution, so <c>localhost</c> and <c>::ffff:127.0.0.1</c> are caught like <c>127.0.0.1</c>.
/// </summary>
public sealed class DestinationPolicy
{
    private readonly NetworkSet _denied;
    private readonly IPEndPoint[] _ownEndpoints;
    private readonly bool _denyHostAddresses;
    private readonly HostIdentity _host;

    /// <param name="denied">Networks refused outright.</param>
    /// <param name="ownEndpoints">The daemon's listeners; refused even when nothing else is (a wildcard one on every host address).</param>
    /// <param name="denyHostAddresses">Whether every address of the host is refused, on any port.</param>
    /// <param name="host">The host's addresses and names; the live, shared view when null and one is needed.</param>
    public DestinationPolicy(NetworkSet denied, IEnumerable<IPEndPoint> ownEndpoints, bool denyHostAddresses = false, HostIdentity? host = null)
    {
        _denied = denied;
        _ownEndpoints = [.. ownEndpoints.Select(e => e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e)];
        _denyHostAddresses = denyHostAddresses;
        _host = host ?? (denyHostAddresses || _ownEndpoints.Length > 0 ? HostIdentity.Shared : NoHost);
    }

    public static DestinationPolicy AllowAll { get; } = new(NetworkSet.Empty, []);

    private static HostIdentity NoHost { get; } = HostIdentity.Fixed([], []);

    public bool IsDenied(IPAddress address, int port)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_denied.Contains(address) || (_denyHostAddresses && _host.IsOwnAddress(address)))
        {
            return true;
        }

        foreach (var own in _ownEndpoints)
        {
            if (own.Port != port)
            {
                continue;
            }

            var ownAddress = own.Address;
            if (ownAddress.Equals(address)
                || IPAddress.IsLoopback(address)
                || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
                || ((ownAddress.Equals(IPAddress.Any) || ownAddress.Equals(IPAddress.IPv6Any)) && _host.IsOwnAddress(address)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// For dialers that pass names on unresolved (a proxy chain): a name that means this host without asking DNS
    /// is refused wherever the host, or the listener's port on it, is refused, before an upstream resolves it.
    /// </summary>
    /// <remarks>
    /// Names are matched rather than resolved here on purpose. A chain exists so that names resolve on the
    /// upstream's side: resolving every name locally as well would send each one to this host's resolver (the
    /// leak a Tor or sing-box upstream is there to prevent), add a lookup to every connect, and fail names only
    /// the upstream can resolve. The names that reach this host whatever DNS says are the host's own: the
    /// <c>localhost</c> family, its host name (nss-myhostname answers it with this host's addresses) and the
    /// <c>/etc/hosts</c> entries, which resolvers read before DNS. Those are matched exactly, in one hash probe each.
    /// </remarks>
    public bool IsDeniedName(string host, int port)
    {
        if (IsLocalName(host) || _host.IsOwnName(host))
        {
            return IsDenied(IPAddress.Loopback, port) || _denyHostAddresses || IsOwnPort(port);
        }

        foreach (var address in _host.HostsEntry(host))
        {
            if (IsDenied(address, port))
            {
                return true;
            }
        }

        return false;
    }

    public static bool IsLocalName(string host)
        => host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
           || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
           || host.Equals("localhost.", StringComparison.OrdinalIgnoreCase);

    private bool IsOwnPort(int port)
    {
        foreach (var own in _ownEndpoints)
        {
            if (own.Port == port)
            {
                return true;
            }
        }

        return false;
    }
}
