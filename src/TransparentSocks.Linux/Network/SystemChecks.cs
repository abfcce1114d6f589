namespace TransparentSocks.Linux.Network;

/// <summary>
/// Kernel settings that silently break the transparent path. They are reported, never changed: they belong to
/// the box's owner.
/// </summary>
public static class SystemChecks
{
    public static IEnumerable<string> Check(IEnumerable<string> interfaces, bool ipv6)
    {
        if (Read("/proc/sys/net/ipv4/ip_forward") == "0")
        {
            yield return "net.ipv4.ip_forward is 0: this box does not forward IPv4, so there is nothing to divert (sysctl -w net.ipv4.ip_forward=1)";
        }

        if (ipv6 && Read("/proc/sys/net/ipv6/conf/all/forwarding") == "0")
        {
            yield return "net.ipv6.conf.all.forwarding is 0: IPv6 from clients is not forwarded";
        }

        var all = Read("/proc/sys/net/ipv4/conf/all/rp_filter");
        foreach (var iface in interfaces)
        {
            var own = Read($"/proc/sys/net/ipv4/conf/{iface}/rp_filter");

            // The kernel applies the stricter of "all" and the interface.
            if (all == "1" || own == "1")
            {
                yield return $"rp_filter is strict (1) on {iface}: asymmetric routes through this interface will be dropped; loose mode (2) is safer for a gateway";
            }
        }
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
