namespace TransparentSocks.Linux.Network;

/// <summary>
/// Kernel settings that silently break the transparent path. They are reported, never changed: they belong to
/// the box's owner.
/// </summary>
public static class SystemChecks
{
    public static IEnumerable<string> Check(IEnumerable<string> interfaces, bool ipv6)
    {
        if (Sysctl.Read(Sysctl.Ipv4Forward) == "0")
        {
            yield return "net.ipv4.ip_forward is 0: this box does not forward IPv4, so there is nothing to divert (sysctl -w net.ipv4.ip_forward=1)";
        }

        if (ipv6 && Sysctl.Read(Sysctl.Ipv6Forwarding) == "0")
        {
            yield return "net.ipv6.conf.all.forwarding is 0: IPv6 from clients is not forwarded";
        }

        var all = Sysctl.Read(Sysctl.RpFilter("all"));
        foreach (var iface in interfaces)
        {
            if (IsStrictRpFilter(all, Sysctl.Read(Sysctl.RpFilter(iface))))
            {
                yield return $"rp_filter is strict (1) on {iface}: asymmetric routes through this interface will be dropped; loose mode (2) is safer for a gateway";
            }
        }
    }

    /// <summary>The kernel applies the stricter of "all" and the interface's own value.</summary>
    public static bool IsStrictRpFilter(string? all, string? own) => all == "1" || own == "1";
}
