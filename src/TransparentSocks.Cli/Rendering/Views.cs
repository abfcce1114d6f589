using TransparentSocks.Control;
using TransparentSocks.Options;
using static TransparentSocks.Cli.Rendering.HumanFormat;

namespace TransparentSocks.Cli.Rendering;

/// <summary>The human form of every control response. <c>--json</c> bypasses all of this.</summary>
internal static class Views
{
    public static void Status(StatusResponse status, TextWriter output)
    {
        output.WriteLine($"transparentsocksd {status.Version}, up {Duration(status.UptimeSeconds)}, config {status.ConfigPath}");
        output.WriteLine();
        SettingsBlock(status.Settings).Write(output);
        output.WriteLine();
        UpstreamBlock(status.Upstream, "Upstream").Write(output);
        output.WriteLine();
        ServerBlock(status.Server, "Server").Write(output);
        output.WriteLine();
        TransparentBlock(status.Transparent).Write(output);
        output.WriteLine();
        output.WriteLine("Interfaces");
        if (status.Interfaces.Count == 0)
        {
            output.WriteLine("  none enabled");
            return;
        }

        var table = new TextTable("NAME", "STATUS", "PROXY", "MAX CONN", "ACTIVE", "TOTAL", "REJECTED", "UP", "DOWN", "FAILURES", "SNIFFED TLS", "SNIFFED HTTP", "UDP FLOWS", "UDP DROPPED");
        foreach (var i in status.Interfaces)
        {
            table.Add(
                i.Name,
                i.Status,
                i.Proxy,
                MaxConnections(i.MaxConnections),
                Number(i.ActiveSessions),
                Number(i.TotalSessions),
                Number(i.Rejected),
                Bytes(i.BytesUp),
                Bytes(i.BytesDown),
                Number(i.ConnectFailures),
                i.Sniffed is null ? "off" : Number(i.Sniffed.Tls),
                i.Sniffed is null ? "-" : Number(i.Sniffed.Http),
                i.Udp is null ? "off" : Number(i.Udp.ActiveFlows),
                i.Udp is null ? "-" : Number(i.Udp.Dropped));
        }

        table.Write(output, "  ");
    }

    public static void Settings(SettingsInfo settings, TextWriter output) => SettingsBlock(settings).Write(output);

    public static void Server(ServerInfo server, TextWriter output) => ServerBlock(server, "Server").Write(output);

    public static void Upstream(UpstreamInfo upstream, TextWriter output) => UpstreamBlock(upstream, "Upstream").Write(output);

    public static void Interface(InterfaceInfo i, TextWriter output)
    {
        var block = new KeyValueBlock($"Interface {i.Name}")
            .Add("status", i.Status)
            .Add("proxy", i.Proxy);
        if (i.Upstream is { } upstream and not UpstreamNames.Default)
        {
            block.Add("upstream", upstream);
        }

        block
            .Add("max connections", MaxConnections(i.MaxConnections))
            .Add("sessions", $"{Number(i.ActiveSessions)} active, {Number(i.TotalSessions)} total")
            .Add("rejected", Number(i.Rejected))
            .Add("diverted", $"{Number(i.DivertedPackets)} packets, {Bytes(i.DivertedBytes)}")
            .Add("bytes up", Bytes(i.BytesUp))
            .Add("bytes down", Bytes(i.BytesDown))
            .Add("connect failures", FailureSummary(i.ConnectFailures, i.Failures))
            .Add("sniffed", i.Sniffed is { } sniffed ? $"tls {Number(sniffed.Tls)}, http {Number(sniffed.Http)}" : "off");
        UdpRows(block, i.Udp).Write(output);
    }

    public static void Sessions(SessionsResponse response, TextWriter output)
    {
        var flows = response.UdpFlows ?? [];
        if (flows.Count == 0 && response.UdpTotal == 0)
        {
            TcpSessions(response, output);
            return;
        }

        // UDP has no session id and counts datagrams, so it gets a table of its own rather than blank columns in TCP's.
        if (response.Total > 0)
        {
            TcpSessions(response, output);
            output.WriteLine();
        }

        output.WriteLine("UDP flows");
        if (flows.Count == 0)
        {
            output.WriteLine($"  0 of {Number(response.UdpTotal)} flows shown");
            return;
        }

        var table = new TextTable("INBOUND", "CLIENT", "DESTINATION", "UPSTREAM", "STATE", "DGRAMS TX", "TX", "DGRAMS RX", "RX", "IDLE", "AGE");
        foreach (var f in flows)
        {
            table.Add(
                f.Inbound,
                f.Client,
                f.Destination,
                OrDash(f.Upstream),
                f.State,
                Number(f.DatagramsTx),
                Bytes(f.BytesTx),
                Number(f.DatagramsRx),
                Bytes(f.BytesRx),
                Duration(f.IdleSeconds),
                Duration(f.AgeSeconds));
        }

        table.Write(output, "  ");
        output.WriteLine(response.UdpTotal > flows.Count
            ? $"  {Number(flows.Count)} of {Number(response.UdpTotal)} flows shown"
            : $"  {Number(flows.Count)} flows");
    }

    private static void TcpSessions(SessionsResponse response, TextWriter output)
    {
        if (response.Sessions.Count == 0)
        {
            output.WriteLine(response.Total == 0 ? "no sessions" : $"0 of {Number(response.Total)} sessions shown");
            return;
        }

        var table = new TextTable("ID", "INBOUND", "CLIENT", "DESTINATION", "HOST", "UPSTREAM", "STATE", "TX", "RX", "AGE");
        foreach (var s in response.Sessions)
        {
            table.Add(
                Number(s.Id),
                s.Inbound,
                s.Client,
                s.Destination,
                OrDash(s.Host),
                OrDash(s.Upstream),
                s.State,
                Bytes(s.BytesTx),
                Bytes(s.BytesRx),
                Duration(s.AgeSeconds));
        }

        table.Write(output);
        output.WriteLine(response.Total > response.Sessions.Count
            ? $"{Number(response.Sessions.Count)} of {Number(response.Total)} sessions shown"
            : $"{Number(response.Sessions.Count)} sessions");
    }

    public static void Upstreams(UpstreamsResponse response, TextWriter output)
    {
        if (response.Upstreams.Count == 0)
        {
            output.WriteLine("no upstreams configured");
            return;
        }

        var table = new TextTable("NAME", "KIND", "ADDRESS", "USERNAME", "PASSWORD", "USED BY", "CONNECTIONS", "FAILURES", "POOLED IDLE", "UDP ASSOC");
        foreach (var u in response.Upstreams)
        {
            table.Add(
                u.Name,
                u.Kind,
                u.Policy ?? OrDash(u.Address),
                OrDash(u.Username),
                u.HasPassword ? "set" : "-",
                u.UsedBy.Count == 0 ? "-" : string.Join(",", u.UsedBy),
                Number(u.Connections),
                Number(u.Failures),
                Number(u.PooledIdle),
                Number(u.UdpAssociations));
        }

        table.Write(output);

        // A group's members and their health would not fit in a column; one line per group under the table.
        foreach (var group in response.Upstreams.Where(u => u.Members is not null))
        {
            output.WriteLine($"{group.Name}: {Members(group.Members!)}");
        }
    }

    public static void Message(MessageResponse message, TextWriter output) => output.WriteLine(message.Message);

    private static KeyValueBlock SettingsBlock(SettingsInfo s)
        => new KeyValueBlock("Settings")
            .Add("idle timeout", Seconds(s.IdleTimeoutSeconds))
            .Add("pooling", OnOff(s.Pooling))
            .Add("max pool size", Number(s.MaxPoolSize))
            .Add("verbose", $"{OnOff(s.Verbose)} (log level {s.LogLevel})");

    private static KeyValueBlock UpstreamBlock(UpstreamInfo u, string title)
    {
        var credentials = u.Username is null
            ? u.HasPassword ? "- (password set)" : "- (no authentication)"
            : u.HasPassword ? $"{u.Username} (password set)" : $"{u.Username} (no password)";
        var block = new KeyValueBlock($"{title} {u.Name}").Add("kind", u.Kind);
        block = u.Members is { } members
            ? block.Add("policy", OrDash(u.Policy)).Add("members", Members(members))
            : block.Add("address", u.Address ?? "none (direct)").Add("username", credentials);
        return block
            .Add("used by", u.UsedBy.Count == 0 ? "-" : string.Join(", ", u.UsedBy))
            .Add("connections", Number(u.Connections))
            .Add("failures", Number(u.Failures))
            .Add("pooled idle", Number(u.PooledIdle))
            .Add("udp", $"{Number(u.UdpAssociations)} associations");
    }

    private static KeyValueBlock ServerBlock(ServerInfo s, string title)
        => UdpRows(new KeyValueBlock(title)
            .Add("status", s.Running ? "running" : "stopped")
            .Add("listen", OrDash(s.Listen))
            .Add("auth", s.AuthRequired ? $"required ({Number(s.Users)} users)" : "none")
            .Add("outbound", s.Outbound)
            .Add("sessions", $"{Number(s.ActiveSessions)} active, {Number(s.TotalSessions)} total")
            .Add("accepted", Number(s.Accepted))
            .Add("rejected", Number(s.Rejected))
            .Add("auth failures", Number(s.AuthFailures))
            .Add("handshake failures", Number(s.HandshakeFailures))
            .Add("bytes up", Bytes(s.BytesUp))
            .Add("bytes down", Bytes(s.BytesDown))
            .Add("connect failures", Counts(s.Failures)), s.Udp);

    private static KeyValueBlock TransparentBlock(TransparentInfo t)
        => new KeyValueBlock("Transparent")
            .Add("enabled", YesNo(t.Enabled))
            .Add("mode", t.Mode)
            .Add("port", Number(t.Port))
            .Add("ipv6", OnOff(t.Ipv6))
            .Add("fwmark", t.Fwmark)
            .Add("route table", Number(t.RouteTable))
            .Add("active sessions", Number(t.ActiveSessions))
            .Add("udp", t.Udp is { } udp
                ? $"{Number(udp.ActiveFlows)} flows (max {Number(udp.MaxFlows)}), {Number(udp.ReplySockets)} reply sockets (max {Number(udp.MaxReplySockets)})"
                : "off");

    /// <summary>An inbound's UDP, in keys short enough not to widen the TCP rows above them.</summary>
    private static KeyValueBlock UdpRows(KeyValueBlock block, UdpInfo? udp)
        => udp is null
            ? block.Add("udp", "off")
            : block
                .Add("udp flows", $"{Number(udp.ActiveFlows)} active, {Number(udp.TotalFlows)} total, {Number(udp.Evicted)} evicted, {Number(udp.AssociationFailures)} failed to open")
                .Add("udp up", $"{Number(udp.DatagramsUp)} datagrams, {Bytes(udp.BytesUp)}")
                .Add("udp down", $"{Number(udp.DatagramsDown)} datagrams, {Bytes(udp.BytesDown)}")
                .Add("udp dropped", udp.Dropped == 0 ? "0" : $"{Number(udp.Dropped)} ({Counts(udp.Drops)})");

    private static string Members(IReadOnlyList<GroupMemberInfo> members)
        => string.Join(", ", members.Select(m => m.Reason is null || m.State == "up" ? $"{m.Name} {m.State}" : $"{m.Name} {m.State} ({m.Reason})"));

    private static string MaxConnections(int max) => max == 0 ? "unlimited" : Number(max);

    private static string FailureSummary(long total, IReadOnlyDictionary<string, long> byReason)
        => total == 0 && byReason.Count == 0 ? "0" : $"{Number(total)} ({Counts(byReason)})";
}
