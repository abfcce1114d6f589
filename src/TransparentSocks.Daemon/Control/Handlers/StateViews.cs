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
            Outbound = o.Outbound == OutboundKind.Direct ? "direct" : $"upstream {_proxy.Options.Upstream.Address}",
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
            var (up, down) = Bytes(iface.Stats);
            result.Add(new InterfaceInfo
            {
                Name = iface.Name,
                Status = "enabled",
                Proxy = iface.Dialer is Socks5Dialer d ? d.Server.ToString() : iface.Dialer.Name,
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
            });
        }

        return result;
    }

    public UpstreamInfo DefaultUpstream()
    {
        var u = _proxy.Options.Upstream;
        var transparent = _proxy.Transparent?.Upstreams().FirstOrDefault(x => x.Name == "default");
        var usedBy = new List<string>(transparent?.UsedBy ?? []);
        var dialers = new List<DialerStats>();
        if (transparent is { } t)
        {
            dialers.Add(t.Dialer.Stats);
        }

        if (_proxy.Options.Server.Enabled && _proxy.Options.Server.Outbound == OutboundKind.Upstream)
        {
            usedBy.Insert(0, "server");
            if (_proxy.Server?.Dialer is Socks5Dialer serverDialer && !ReferenceEquals(serverDialer, transparent?.Dialer))
            {
                dialers.Add(serverDialer.Stats);
            }
        }

        return Describe("default", u.Address, u.Username, u.EffectivePassword is not null, usedBy, dialers);
    }

    public List<UpstreamInfo> Upstreams()
    {
        var result = new List<UpstreamInfo> { DefaultUpstream() };
        foreach (var (name, dialer, usedBy) in _proxy.Transparent?.Upstreams() ?? [])
        {
            if (name != "default")
            {
                var iface = _proxy.Options.Transparent.Interfaces.FirstOrDefault(i => $"interface:{i.Name}" == name);
                result.Add(Describe(name, dialer.Server.ToString(), iface?.Username, iface?.EffectivePassword is not null, [.. usedBy], [dialer.Stats]));
            }
        }

        return result;
    }

    /// <summary>One upstream's line: the numbers are summed over every dialer that talks to it.</summary>
    private static UpstreamInfo Describe(string name, string? address, string? username, bool hasPassword, List<string> usedBy, List<DialerStats> dialers)
        => new()
        {
            Name = name,
            Address = address,
            Username = username,
            HasPassword = hasPassword,
            UsedBy = usedBy,
            Connections = dialers.Sum(d => d.Connections),
            Failures = dialers.Sum(d => d.Failures),
            PooledIdle = dialers.Sum(d => d.PooledIdle),
            UdpAssociations = dialers.Sum(d => d.UdpAssociations),
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

    private (long Up, long Down) Bytes(InboundStats stats) => _proxy.Sessions.BytesOf(stats);

    private static Dictionary<string, long> Failures(InboundStats stats)
        => stats.DialFailureBreakdown().Where(f => f.Count > 0).ToDictionary(f => f.Error.ToReason(), f => f.Count);
}
