namespace TransparentSocks.Linux.Network;

/// <summary>
/// Kernel settings as the kernel shows them under /proc/sys. Keys are paths, not sysctl's dotted names, because an
/// interface name may itself contain a dot (eth0.100).
/// </summary>
public static class Sysctl
{
    public const string Ipv4Forward = "net/ipv4/ip_forward";

    public const string Ipv6Forwarding = "net/ipv6/conf/all/forwarding";

    /// <summary>Reverse-path filtering of one interface, or of "all", which the kernel weighs with it.</summary>
    public static string RpFilter(string iface) => $"net/ipv4/conf/{iface}/rp_filter";

    /// <summary>The value without its newline; null when it cannot be read (IPv6 off, no such interface, no /proc).</summary>
    public static string? Read(string key)
    {
        try
        {
            return File.ReadAllText($"/proc/sys/{key}").Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
