using System.Globalization;
using TransparentSocks.Daemon.Network;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>
/// The control API's models, built from live state at the moment of asking. Reads answer with them, and so does
/// every change, with the state it left behind.
/// </summary>
internal sealed class StateViews(ProxyService proxy)
{
    private readonly ProxyService _proxy = proxy;

    public async Task<StatusResponse> StatusAsync()
    {
        var options = _proxy.Options;
        var transparent = options.Transparent;
        return new StatusResponse
        {
            Version = typeof(ControlHandler).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            UptimeSeconds = (long)(DateTimeOffset.UtcNow - _proxy.StartedAt).TotalSeconds,
            ConfigPath = _proxy.Source.Path,
            Settings = Settings(),
            Upstream = DefaultUpstream(),
            Server = ServerInfo(),
            Transparent = new TransparentInfo
            {
                Enabled = transparent.Enabled,
                Mode = transparent.Mode == TransparentMode.Redirect ? "redirect" : "tproxy",
                Port = transparent.Port,
                Ipv6 = transparent.IPv6,
                Fwmark = $"0x{transparent.Fwmark.ToString("x", CultureInfo.InvariantCulture)}",
                RouteTable = transparent.RouteTable,
                ActiveSessions = _proxy.TransparentPath?.Interfaces.Sum(i => i.Stats.Active) ?? 0,
                Udp = _proxy.TransparentPath?.Udp is { } udp
                    ? new TransparentUdpInfo
                    {
                        ActiveFlows = udp.FlowCount,
                        MaxFlows = udp.Settings.MaxFlows,
                        ReplySockets = udp.ReplySocketCount,
                        MaxReplySockets = udp.Settings.MaxReplySockets,
                    }
                    : null,
            },
            Interfaces = await InterfacesAsync().ConfigureAwait(false),
        };
    }

    public SettingsInfo Settings()
    {
        var o = _proxy.Options;
        return new SettingsInfo
        {
            IdleTimeoutSeconds = o.Transparent.Enabled || !o.Server.Enabled ? o.Transparent.IdleTimeoutSeconds : o.Server.IdleTimeoutSeconds,
            Pooling = o.Upstream.Pooling,
            MaxPoolSize = o.Upstream.MaxPoolSize,
            Verbose = o.Logging.Level is LogLevelName.Debug or LogLevelName.Verbose,
            LogLevel = o.Logging.Level.ToString().ToLowerInvariant(),
        };
    }

    public ServerInfo ServerInfo()
    {
        var o = _proxy.Options.Server;
        var server = _proxy.Server;
        var stats = server?.Stats ?? new InboundStats(Socks5Server.InboundName);
        var (up, down) = Bytes(stats);
        return new ServerInfo
        {
            Running = server?.IsListening == true,
            Listen = server?.IsListening == true ? server.LocalEndPoint?.ToString() : o.Listen,
            AuthRequired = o.Users.Count > 0,
            Users = o.Users.Count,
            Outbound = o.Outbound == UpstreamNames.Direct ? "direct"
                : UpstreamNames.Canonical(o.Outbound) == UpstreamNames.Default ? $"upstream {_proxy.Options.Upstream.Address}"
                : o.Outbound,
            Accepted = stats.Accepted,
            Rejected = stats.Rejected,
            AuthFailures = stats.AuthFailures,
            HandshakeFailures = stats.HandshakeFailures,
            ActiveSessions = stats.Active,
            TotalSessions = stats.Total,
            BytesUp = up,
            BytesDown = down,
            Failures = Failures(stats),
            Udp = Udp(stats.Udp),
        };
    }

    public async Task<List<InterfaceInfo>> InterfacesAsync()
    {
        var path = _proxy.TransparentPath;
        if (path is null)
        {
            return [];
        }

        var counters = await NftClient.ReadCountersAsync().ConfigureAwait(false);
        var result = new List<InterfaceInfo>();
        foreach (var iface in path.Interfaces)
        {
            counters.TryGetValue(NftRuleset.CounterName(iface.Name), out var diverted);
            var configured = _proxy.Options.Transparent.Interfaces.FirstOrDefault(i => i.Name == iface.Name);
            var (up, down) = Bytes(iface.Stats);
            result.Add(new InterfaceInfo
            {
                Name = iface.Name,
                Status = "enabled",
                Proxy = iface.Dialer is Socks5Dialer d ? d.Server.ToString() : iface.Dialer.Name,
                Upstream = configured?.Proxy is not null ? null : UpstreamNames.Canonical(configured?.Upstream ?? UpstreamNames.Default),
                MaxConnections = iface.MaxConnections,
                ActiveSessions = iface.Stats.Active,
                TotalSessions = iface.Stats.Total,
                Rejected = iface.Stats.Rejected,
                DivertedPackets = diverted.Packets,
                DivertedBytes = diverted.Bytes,
                BytesUp = up,
                BytesDown = down,
                ConnectFailures = iface.Stats.TotalDialFailures,
                Failures = Failures(iface.Stats),
                Udp = path.Udp is null ? null : Udp(iface.Stats.Udp),
                Sniffed = _proxy.Options.Transparent.Sniff ? Sniffed(iface.Stats) : null,
            });
        }

        return result;
    }

    /// <summary>The default upstream as <c>set endpoint</c> left it; an unset one is listed with no address.</summary>
    public UpstreamInfo DefaultUpstream()
        => Upstreams().FirstOrDefault(u => u.Name == UpstreamNames.Default)
           ?? new UpstreamInfo { Name = UpstreamNames.Default, HasPassword = false, UsedBy = [], Connections = 0, Failures = 0, PooledIdle = 0 };

    /// <summary>
    /// The default upstream, the named ones, the groups (with their members' health) and every interface's own proxy.
    /// Counters are the dialer's, so an upstream shared by the server, interfaces and groups is counted once.
    /// </summary>
    public List<UpstreamInfo> Upstreams()
    {
        var options = _proxy.Options;
        var catalog = _proxy.Upstreams;
        var result = new List<UpstreamInfo>();
        var interfaces = _proxy.TransparentPath?.Interfaces ?? [];
        foreach (var entry in catalog?.Entries ?? [])
        {
            var usedBy = new List<string>();
            if (options.Server.Enabled && ReferenceEquals(_proxy.Server?.Dialer, entry.Dialer))
            {
                usedBy.Add("server");
            }

            usedBy.AddRange(interfaces.Where(i => ReferenceEquals(i.Dialer, entry.Dialer)).Select(i => i.Name));
            usedBy.AddRange(catalog!.Entries.Where(g => g.Group?.Members.Any(m => ReferenceEquals(m.Dialer, entry.Dialer)) == true).Select(g => $"group:{g.Name}"));
            result.Add(Describe(entry, usedBy));
        }

        foreach (var iface in interfaces)
        {
            if (catalog?.Entries.Any(e => ReferenceEquals(e.Dialer, iface.Dialer)) == false && iface.Dialer is Socks5Dialer own)
            {
                var configured = options.Transparent.Interfaces.FirstOrDefault(i => i.Name == iface.Name);
                result.Add(Describe(
                    new UpstreamEntry($"interface:{iface.Name}", own, UpstreamProtocol.Socks5, own.Server, configured?.Username, configured?.EffectivePassword is not null),
                    [iface.Name]));
            }
        }

        if (result.All(u => u.Name != UpstreamNames.Default))
        {
            result.Insert(0, new UpstreamInfo { Name = UpstreamNames.Default, HasPassword = false, UsedBy = [], Connections = 0, Failures = 0, PooledIdle = 0 });
        }

        return result;
    }

    private static UpstreamInfo Describe(UpstreamEntry entry, List<string> usedBy)
    {
        var stats = entry.Dialer.Stats;
        return new UpstreamInfo
        {
            Name = entry.Name,
            Kind = entry.Group is not null ? "group" : entry.Protocol == UpstreamProtocol.Http ? "http" : "socks5",
            Address = entry.Address?.ToString(),
            Username = entry.Username,
            HasPassword = entry.HasPassword,
            UsedBy = usedBy,
            Connections = stats.Connections,
            Failures = stats.Failures,
            PooledIdle = stats.PooledIdle,
            UdpAssociations = stats.UdpAssociations,
            Policy = entry.Group is { } group ? PolicyName(group.Policy) : null,
            Members = entry.Group?.Members.Select(Member).ToList(),
        };
    }

    internal static string PolicyName(GroupPolicy policy) => policy switch
    {
        GroupPolicy.RoundRobin => "round-robin",
        GroupPolicy.LeastConnections => "least-connections",
        GroupPolicy.Hash => "hash",
        _ => "failover",
    };

    private static GroupMemberInfo Member(UpstreamMember member) => new()
    {
        Name = member.Name,
        State = member.IsUp ? "up" : "down",
        Reason = member.Reason == HealthReason.None ? null : member.Reason.ToReason(),
        Detail = member.Detail,
        LastCheckMs = member.LastCheckLatency?.TotalMilliseconds,
        Checks = member.Checks,
        CheckFailures = member.CheckFailures,
        InFlight = member.InFlight,
        LastChange = member.LastChange?.ToString("O", CultureInfo.InvariantCulture),
        Failures = HealthReasonNames.Failures.ToDictionary(r => r.ToReason(), member.FailuresBy),
    };

    /// <summary>One inbound's UDP counters; every drop reason is listed, so a script can read any of them.</summary>
    internal static UdpInfo Udp(UdpStats udp) => new()
    {
        ActiveFlows = udp.Active,
        TotalFlows = udp.Total,
        DatagramsUp = udp.DatagramsUp,
        BytesUp = udp.BytesUp,
        DatagramsDown = udp.DatagramsDown,
        BytesDown = udp.BytesDown,
        Evicted = udp.Evicted,
        AssociationFailures = udp.FailedOpens,
        Dropped = udp.DroppedTotal,
        Drops = UdpStats.Reasons.ToDictionary(r => r.ToReason(), udp.Dropped),
    };

    internal static SniffedInfo Sniffed(InboundStats stats) => new() { Tls = stats.SniffedTls, Http = stats.SniffedHttp };

    private (long Up, long Down) Bytes(InboundStats stats) => _proxy.Sessions.BytesOf(stats);

    private static Dictionary<string, long> Failures(InboundStats stats)
        => stats.DialFailureBreakdown().Where(f => f.Count > 0).ToDictionary(f => f.Error.ToReason(), f => f.Count);
}
