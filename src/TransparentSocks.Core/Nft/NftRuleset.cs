using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Options;

namespace TransparentSocks.Nft;

/// <summary>Everything the ruleset depends on. Interfaces and addresses are rendered in the order given.</summary>
public sealed record NftRulesetSpec
{
    public TransparentMode Mode { get; init; } = TransparentMode.Tproxy;

    /// <summary>The listener port for diverted connections (IPv4 and IPv6).</summary>
    public int Port { get; init; } = 12345;

    /// <summary>Set on diverted packets; the policy-routing rule looks it up to deliver them locally.</summary>
    public uint Fwmark { get; init; } = 0x5453;

    /// <summary>SO_MARK on the daemon's own outbound sockets; packets carrying it are never diverted.</summary>
    public uint OutboundMark { get; init; } = 0x5454;

    public bool Ipv6 { get; init; } = true;

    /// <summary>
    /// Also divert the interfaces' forwarded UDP, always with tproxy to <see cref="Port"/> (REDIRECT cannot keep a
    /// datagram's destination), under the same bypass sets, marks and fail-closed rule as TCP. On by default, as
    /// <c>transparent.udp</c> is.
    /// </summary>
    public bool Udp { get; init; } = true;

    public IReadOnlyList<string> Interfaces { get; init; } = [];

    /// <summary>Destinations never diverted (IPv4 and IPv6 mixed).</summary>
    public IReadOnlyList<IpNetwork> Bypass { get; init; } = [];

    /// <summary>Sources never diverted: the upstream proxies themselves, so their own traffic cannot loop.</summary>
    public IReadOnlyList<IpNetwork> UpstreamSources { get; init; } = [];
}

/// <summary>
/// Renders the daemon's whole nftables table, and the small transactions that enable and disable an interface.
/// Pure text: the daemon feeds it to <c>nft -f -</c>, where it applies atomically or not at all.
/// </summary>
public static class NftRuleset
{
    public const string Family = "inet";
    public const string Table = "transparentsocks";
    public const string QualifiedTable = Family + " " + Table;

    public static string Render(NftRulesetSpec spec)
    {
        var v4Bypass = spec.Bypass.Where(n => n.AddressFamily == AddressFamily.InterNetwork).ToList();
        var v6Bypass = spec.Bypass.Where(n => n.AddressFamily == AddressFamily.InterNetworkV6).ToList();
        var v4Upstreams = spec.UpstreamSources.Where(n => n.AddressFamily == AddressFamily.InterNetwork).ToList();
        var v6Upstreams = spec.UpstreamSources.Where(n => n.AddressFamily == AddressFamily.InterNetworkV6).ToList();
        var fwmark = Hex(spec.Fwmark);
        var outboundMark = Hex(spec.OutboundMark);
        var port = spec.Port.ToString(CultureInfo.InvariantCulture);

        // UDP has no connection for "socket transparent" to find; every datagram goes through tproxy instead, which
        // also keeps it away from the daemon's cached reply sockets (bound to remote addresses, never connected).
        var protocols = spec.Udp ? "{ tcp, udp }" : "tcp";

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"""
            # TransparentSocks: the daemon's own table, rendered from its configuration and applied with `nft -f`
            # in one transaction. The first two lines make the load replace a table left by an earlier run
            # (even one that was killed) instead of adding a second one.
            table {QualifiedTable}
            delete table {QualifiedTable}

            table {QualifiedTable} {'{'}
            	# Interfaces whose forwarded {(spec.Udp ? "TCP and UDP are" : "TCP is")} diverted. Enabling or disabling an interface adds or removes one
            	# element (and its counter) in a transaction of its own; no rule is rebuilt.
            	set interfaces {'{'}
            		type ifname
            {Elements(spec.Interfaces.Select(Quote))}	{'}'}

            	# A named counter per enabled interface, reached through this map so that enabling needs no new rule.
            	map interface_counters {'{'}
            		type ifname : counter
            {Elements(spec.Interfaces.Select(i => $"{Quote(i)} : {Quote(CounterName(i))}"))}	{'}'}


            """);
        foreach (var iface in spec.Interfaces)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\tcounter {CounterName(iface)} {{\n\t}}\n\n");
        }

        sb.Append(CultureInfo.InvariantCulture, $"""
            	# Destinations never diverted: reserved, private, loopback, link-local and multicast ranges, this
            	# box's own addresses, the upstreams, and what the configuration adds. auto-merge lets entries overlap.
            {AddressSet("bypass_v4", "ipv4_addr", v4Bypass)}

            {AddressSet("bypass_v6", "ipv6_addr", v6Bypass)}

            	# Sources never diverted: the upstream proxies. An upstream that sits behind an enabled interface
            	# must reach the Internet directly, or its connections would come back to us.
            {AddressSet("upstream_v4", "ipv4_addr", v4Upstreams)}

            {AddressSet("upstream_v6", "ipv6_addr", v6Upstreams)}


            """);

        if (spec.Mode == TransparentMode.Tproxy)
        {
            sb.Append(CultureInfo.InvariantCulture, $"""
                	chain prerouting {'{'}
                		type filter hook prerouting priority mangle; policy accept;
                		meta l4proto != {protocols} return
                		# The daemon's own sockets carry this SO_MARK: its upstream connections never loop back into it.
                		meta mark {outboundMark} return
                		# Loopback carries the daemon's traffic with a local upstream and is never diverted. Its prerouting runs
                		# in the sender's send(), so each rule below would be paid twice per packet between daemon and upstream.
                		meta iiftype loopback return
                		# Packets of connections already diverted go to their socket (one socket lookup each), counted while the
                		# interface is enabled, and still delivered after it is disabled. Not a new SYN: one that meets our
                		# TIME_WAIT socket of an earlier connection on the same ports (clients reuse ports within its 60 s) must
                		# reach tproxy, which retires that socket for the listener; the socket match would hand the SYN to
                		# the TIME_WAIT socket, whose port no listener has, and the client would retry.
                		meta l4proto tcp tcp flags & (fin | syn | rst | ack) != syn socket transparent 1 goto diverted
                		iifname != @interfaces return
                		ip daddr @bypass_v4 return
                		ip6 daddr @bypass_v6 return
                		ip saddr @upstream_v4 return
                		ip6 saddr @upstream_v6 return
                		counter name iifname map @interface_counters
                		# The mark sends the packet to the local routing table (ip rule fwmark {fwmark}); the listener on port {port}
                		# is bound to each enabled interface, which is how a connection knows where it came in.
                		meta l4proto tcp tproxy ip to 127.0.0.1:{port} meta mark set {fwmark} accept

                """);
            AppendTproxyTail(sb, spec, port, fwmark, tcp: true);
            sb.Append(CultureInfo.InvariantCulture, $"""
                	{'}'}

                	chain diverted {'{'}
                		iifname @interfaces counter name iifname map @interface_counters
                		meta mark set {fwmark} accept
                	{'}'}
                {'}'}

                """);
        }
        else
        {
            sb.Append(CultureInfo.InvariantCulture, $"""
                	chain prerouting {'{'}
                		type nat hook prerouting priority dstnat; policy accept;
                		meta l4proto != tcp return
                		# The daemon's own sockets carry this SO_MARK: its upstream connections never loop back into it.
                		meta mark {outboundMark} return
                		iifname != @interfaces return
                		ip daddr @bypass_v4 return
                		ip6 daddr @bypass_v6 return
                		ip saddr @upstream_v4 return
                		ip6 saddr @upstream_v6 return

                """);
            if (!spec.Ipv6)
            {
                sb.Append("\t\t# IPv6 is not diverted (ipv6: false).\n\t\tmeta nfproto ipv6 return\n");
            }

            sb.Append(CultureInfo.InvariantCulture, $"""
                		# Conntrack keeps the original destination; the daemon reads it back with SO_ORIGINAL_DST.
                		meta l4proto tcp redirect to :{port}
                	{'}'}

                {UdpChain(spec, port, fwmark, outboundMark)}	# A nat chain sees only the first packet of each connection, so the per-interface counters sit here,
                	# after NAT, where every packet of a redirected connection passes: addressed to the divert port
                	# by our redirect, which direct connections to that port never are.
                	chain count_diverted {'{'}
                		type filter hook prerouting priority filter; policy accept;
                		iifname @interfaces meta l4proto tcp th dport {port} ct status dnat counter name iifname map @interface_counters
                	{'}'}
                {'}'}

                """);
        }

        return sb.ToString();
    }

    /// <summary>
    /// The tproxy rules and the fail-closed drops: TCP's (when <paramref name="tcp"/>) and UDP's when
    /// <see cref="NftRulesetSpec.Udp"/>, for IPv4 and, with <see cref="NftRulesetSpec.Ipv6"/>, IPv6.
    /// </summary>
    private static void AppendTproxyTail(StringBuilder sb, NftRulesetSpec spec, string port, string fwmark, bool tcp)
    {
        if (tcp)
        {
            sb.Append(spec.Ipv6
                ? $"\t\tmeta l4proto tcp tproxy ip6 to [::1]:{port} meta mark set {fwmark} accept\n"
                : "\t\t# IPv6 is not diverted (ipv6: false).\n");
        }

        if (spec.Udp)
        {
            sb.Append("\t\t# Each datagram goes to the UDP socket on the same port, which reads its destination from IP_ORIGDSTADDR.\n");
            sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta l4proto udp tproxy ip to 127.0.0.1:{port} meta mark set {fwmark} accept\n");
            if (spec.Ipv6)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta l4proto udp tproxy ip6 to [::1]:{port} meta mark set {fwmark} accept\n");
            }
        }

        var what = !tcp ? "datagram" : spec.Udp ? "connection or datagram" : "connection";
        sb.Append(CultureInfo.InvariantCulture, $"\t\t# Fail closed: a {what} no socket took (the daemon is starting or stopping) is dropped,\n");
        sb.Append("\t\t# and the client retries, rather than being forwarded around the proxy.\n");
        foreach (var family in spec.Ipv6 ? new[] { "ipv4", "ipv6" } : ["ipv4"])
        {
            if (tcp)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta nfproto {family} meta l4proto tcp drop\n");
            }

            if (spec.Udp)
            {
                sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta nfproto {family} meta l4proto udp drop\n");
            }
        }
    }

    /// <summary>
    /// Under REDIRECT, UDP still goes through tproxy, in a mangle-priority chain of its own: a nat redirect would
    /// lose each datagram's destination. Empty when UDP is not diverted.
    /// </summary>
    private static string UdpChain(NftRulesetSpec spec, string port, string fwmark, string outboundMark)
    {
        if (!spec.Udp)
        {
            return string.Empty;
        }

        var sb = new StringBuilder();
        sb.Append("\t# A nat redirect would lose each datagram's destination, so UDP goes through tproxy even here, before nat;\n");
        sb.Append(CultureInfo.InvariantCulture, $"\t# the policy route for mark {fwmark} delivers it to the local socket.\n");
        sb.Append("\tchain prerouting_udp {\n");
        sb.Append("\t\ttype filter hook prerouting priority mangle; policy accept;\n");
        sb.Append("\t\tmeta l4proto != udp return\n");
        sb.Append(CultureInfo.InvariantCulture, $"\t\tmeta mark {outboundMark} return\n");
        sb.Append("\t\tiifname != @interfaces return\n");
        sb.Append("\t\tip daddr @bypass_v4 return\n");
        sb.Append("\t\tip6 daddr @bypass_v6 return\n");
        sb.Append("\t\tip saddr @upstream_v4 return\n");
        sb.Append("\t\tip6 saddr @upstream_v6 return\n");
        if (!spec.Ipv6)
        {
            sb.Append("\t\tmeta nfproto ipv6 return\n");
        }

        sb.Append("\t\tcounter name iifname map @interface_counters\n");
        AppendTproxyTail(sb, spec, port, fwmark, tcp: false);
        sb.Append("\t}\n\n");
        return sb.ToString();
    }

    /// <summary>The transaction that starts diverting one more interface.</summary>
    public static string RenderEnable(string iface) => $$"""
        add counter {{QualifiedTable}} {{CounterName(iface)}}
        add element {{QualifiedTable}} interface_counters { {{Quote(iface)}} : {{Quote(CounterName(iface))}} }
        add element {{QualifiedTable}} interfaces { {{Quote(iface)}} }

        """;

    /// <summary>The transaction that stops diverting an interface. Connections already diverted keep their socket.</summary>
    public static string RenderDisable(string iface) => $$"""
        delete element {{QualifiedTable}} interfaces { {{Quote(iface)}} }
        delete element {{QualifiedTable}} interface_counters { {{Quote(iface)}} }
        delete counter {{QualifiedTable}} {{CounterName(iface)}}

        """;

    /// <summary>
    /// A throwaway table whose only rules are tproxy ones, for <c>nft -c</c>: the check asks the kernel without
    /// committing anything, and it refuses where the kernel has no TPROXY (nft_tproxy) for a family.
    /// </summary>
    public static string RenderTproxyProbe(bool ipv6)
    {
        var v6 = ipv6 ? "\t\tmeta l4proto { tcp, udp } tproxy ip6 to [::1]:1 meta mark set 0x1 accept\n" : string.Empty;
        return $$"""
            table inet {{Table}}_probe {
            	chain probe {
            		type filter hook prerouting priority mangle; policy accept;
            		meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:1 meta mark set 0x1 accept
            {{v6}}	}
            }

            """;
    }

    /// <summary>Removes the table whether or not it exists.</summary>
    public static string RenderDelete() => $"""
        table {QualifiedTable}
        delete table {QualifiedTable}

        """;

    /// <summary>
    /// nft object names allow fewer characters than interface names; anything else becomes '_' and a short
    /// checksum of the real name keeps two such names apart.
    /// </summary>
    public static string CounterName(string iface)
    {
        var safe = new StringBuilder("iface_");
        var replaced = false;
        foreach (var c in iface)
        {
            if (char.IsAsciiLetterOrDigit(c) || c == '_')
            {
                safe.Append(c);
            }
            else
            {
                safe.Append('_');
                replaced = true;
            }
        }

        if (replaced)
        {
            uint hash = 2166136261;
            foreach (var c in iface)
            {
                hash = (hash ^ c) * 16777619;
            }

            safe.Append(CultureInfo.InvariantCulture, $"_{hash & 0xFFFF:x4}");
        }

        return safe.ToString();
    }

    /// <summary>An interval set of one address family: the bypass and upstream sets differ only in name and contents.</summary>
    private static string AddressSet(string name, string type, IEnumerable<IpNetwork> networks)
        => $"\tset {name} {{\n\t\ttype {type}\n\t\tflags interval\n\t\tauto-merge\n{Elements(networks.Select(n => n.ToString()))}\t}}";

    private static string Elements(IEnumerable<string> items)
    {
        var list = items.ToList();
        return list.Count == 0 ? string.Empty : $"\t\telements = {{ {string.Join(", ", list)} }}\n";
    }

    private static string Quote(string s) => $"\"{s}\"";

    private static string Hex(uint value) => $"0x{value.ToString("x8", CultureInfo.InvariantCulture)}";
}
