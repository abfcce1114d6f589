using TransparentSocks.Linux.Network;

namespace TransparentSocks.Cli.Doctor;

/// <summary>Forwarding and reverse-path filtering: kernel settings that are the box owner's to change, so the checks say how.</summary>
internal static class SysctlChecks
{
    public static IEnumerable<CheckResult> CheckForwarding(Target target)
    {
        // Forwarding off only matters once something is to be diverted; before that it is a warning.
        var severity = target.TransparentEnabled && target.Interfaces.Count > 0 ? CheckStatus.Fail : CheckStatus.Warn;
        yield return Sysctl.Read(Sysctl.Ipv4Forward) switch
        {
            "1" => new(CheckStatus.Ok, "ip-forward", "net.ipv4.ip_forward is 1"),
            null => new(CheckStatus.Warn, "ip-forward", "cannot read /proc/sys/net/ipv4/ip_forward"),
            _ => new(severity, "ip-forward", "net.ipv4.ip_forward is 0: this box does not forward IPv4, so there is nothing to divert (sysctl -w net.ipv4.ip_forward=1)"),
        };
        if (target.Ipv6)
        {
            yield return Sysctl.Read(Sysctl.Ipv6Forwarding) switch
            {
                "1" => new(CheckStatus.Ok, "ipv6-forward", "net.ipv6.conf.all.forwarding is 1"),
                null => new(CheckStatus.Skip, "ipv6-forward", "IPv6 is not available"),
                _ => new(CheckStatus.Warn, "ipv6-forward", "net.ipv6.conf.all.forwarding is 0: IPv6 from clients is not forwarded (sysctl -w net.ipv6.conf.all.forwarding=1)"),
            };
        }
    }

    public static IEnumerable<CheckResult> CheckInterfaces(Target target)
    {
        if (target.Interfaces.Count == 0)
        {
            yield return new(CheckStatus.Skip, "interfaces", "no interface is enabled: transparentsocks enable IFACE");
            yield break;
        }

        var all = Sysctl.Read(Sysctl.RpFilter("all"));
        foreach (var name in target.Interfaces)
        {
            if (!Directory.Exists($"/sys/class/net/{name}"))
            {
                yield return new(CheckStatus.Fail, $"iface {name}", $"{name} does not exist on this host (ip link show)");
                continue;
            }

            var own = Sysctl.Read(Sysctl.RpFilter(name));
            yield return SystemChecks.IsStrictRpFilter(all, own)
                ? new(CheckStatus.Warn, $"rp_filter {name}", $"rp_filter is strict (1) on {name}: asymmetric routes through it are dropped; loose mode is safer for a gateway (sysctl -w net.ipv4.conf.{name}.rp_filter=2 net.ipv4.conf.all.rp_filter=2)")
                : new(CheckStatus.Ok, $"rp_filter {name}", $"rp_filter on {name} is {own ?? "?"} (all {all ?? "?"}): not strict");
        }
    }
}
