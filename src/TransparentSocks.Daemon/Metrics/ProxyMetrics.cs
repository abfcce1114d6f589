using System.Diagnostics.Metrics;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>One inbound as the metrics label it: <c>path</c> is server, tproxy or redirect; <c>iface</c> is null for the server.</summary>
internal readonly record struct MeteredInbound(string Path, string? Interface, InboundStats Stats);

/// <summary>The transparent path's reply sockets: one pool for every interface, so labelled by the path alone.</summary>
internal readonly record struct MeteredReplySockets(string Path, int Open);

/// <summary>
/// The <c>TransparentSocks</c> meter. Every instrument is observable: its callback reads the inbound counters the
/// data plane already keeps, only when a scrape asks, so the relay's hot path gains nothing.
/// </summary>
/// <remarks>
/// Names are chosen for <see cref="PrometheusExposition.MetricName"/>, the OpenTelemetry exporter's translation
/// (dots become underscores, the unit <c>By</c> adds <c>_bytes</c> unless the name already carries it, a counter gains
/// <c>_total</c>, and a unit in braces adds nothing), so <c>transparentsocks.bytes</c> in <c>By</c> is exposed as
/// <c>transparentsocks_bytes_total</c>. Labels carry only the path, the interface, the direction and the failure
/// reason: never a user, a password or an upstream address.
/// </remarks>
internal sealed class ProxyMetrics : IDisposable
{
    public const string MeterName = "TransparentSocks";

    private static readonly DialError[] Reasons = [.. Enum.GetValues<DialError>().Where(e => e != DialError.None)];
    private static readonly KeyValuePair<string, object?>[] DropReasons = [.. UdpStats.Reasons.Select(r => new KeyValuePair<string, object?>("reason", r.ToReason()))];
    private static readonly KeyValuePair<string, object?> Tls = new("protocol", "tls");
    private static readonly KeyValuePair<string, object?> Http = new("protocol", "http");

    private readonly Meter _meter = new(MeterName);
    private readonly Func<IReadOnlyList<MeteredInbound>> _inbounds;
    private readonly SessionTable _sessions;
    private readonly Func<IReadOnlyDictionary<string, (long Packets, long Bytes)>> _diverted;
    private readonly Func<MeteredReplySockets?> _replySockets;
    private readonly Func<UpstreamCatalog?> _upstreams;
    private readonly CounterFloor _bytesFloor = new();

    /// <param name="inbounds">The inbounds running now; asked at every scrape, since interfaces come and go on reload.</param>
    /// <param name="sessions">The live sessions, whose bytes are not yet in their inbound's closed totals.</param>
    /// <param name="diverted">Our nft table's counters by counter name; asked only while an interface is enabled.</param>
    /// <param name="replySockets">The transparent path's reply sockets; null while the path does not relay UDP.</param>
    /// <param name="upstreams">The upstreams and groups in use now; asked at every scrape, since a change rebuilds them.</param>
    public ProxyMetrics(
        Func<IReadOnlyList<MeteredInbound>> inbounds,
        SessionTable sessions,
        Func<IReadOnlyDictionary<string, (long Packets, long Bytes)>> diverted,
        Func<MeteredReplySockets?> replySockets,
        Func<UpstreamCatalog?>? upstreams = null)
    {
        _inbounds = inbounds;
        _sessions = sessions;
        _diverted = diverted;
        _replySockets = replySockets;
        _upstreams = upstreams ?? (() => null);

        _meter.CreateObservableCounter("transparentsocks.connections", () => PerInbound(s => s.Total), "{connection}", "Sessions opened: connections accepted and not rejected.");
        _meter.CreateObservableUpDownCounter("transparentsocks.active_connections", () => PerInbound(s => s.Active), "{connection}", "Sessions open now.");
        _meter.CreateObservableCounter("transparentsocks.bytes", ObserveBytes, "By", "Bytes relayed, closed and live sessions; up is client to destination.");
        _meter.CreateObservableCounter("transparentsocks.connect_failures", ObserveConnectFailures, "{failure}", "Dials to the destination or the upstream that failed, by reason.");
        _meter.CreateObservableCounter("transparentsocks.rejected", () => PerInbound(s => s.Rejected), "{connection}", "Connections closed at once by the client ACL or a limit.");
        _meter.CreateObservableCounter("transparentsocks.auth_failures", ObserveAuthFailures, "{failure}", "SOCKS5 username/password authentications that failed.");
        _meter.CreateObservableCounter("transparentsocks.handshake_failures", () => PerInbound(s => s.HandshakeFailures), "{failure}", "Malformed, unsupported or timed-out handshakes.");
        _meter.CreateObservableCounter("transparentsocks.handshakes_evicted", () => PerInbound(s => s.Evicted), "{connection}", "Handshakes reset to make room for a newer client while every handshake slot was taken.");
        _meter.CreateObservableCounter("transparentsocks.upstream_failures", () => PerInbound(s => s.UpstreamFailures), "{connection}", "Relayed sessions the upstream or destination cut after the reply (a reset, EPIPE, a TCP timeout); their client got a reset, not a FIN.");
        _meter.CreateObservableCounter("transparentsocks.diverted_packets", () => ObserveDiverted(c => c.Packets), "{packet}", "Packets counted by the interface's nft divert rule: every packet under TPROXY, each connection's first under REDIRECT.");
        _meter.CreateObservableCounter("transparentsocks.diverted_bytes", () => ObserveDiverted(c => c.Bytes), "By", "Bytes counted by the interface's nft divert rule: every packet under TPROXY, each connection's first under REDIRECT.");

        // Labelled by protocol only: a label per sniffed name would be a new series for every site a client visits.
        // Plain interlocked counts, never folded in at a close, so like UDP they need no floor.
        _meter.CreateObservableCounter("transparentsocks.sniffed", ObserveSniffed, "{session}", "Transparent sessions whose first bytes named a usable host, by protocol: tls (SNI) or http (Host).");

        // UDP: every inbound has these, the server's UDP ASSOCIATE as much as an interface's flows. The counters only
        // ever grow (interlocked adds, nothing folded in at a close), so unlike the TCP bytes they need no floor.
        _meter.CreateObservableUpDownCounter("transparentsocks.udp.flows_active", () => PerInbound(s => s.Udp.Active), "{flow}", "UDP flows (an interface) or associations (the server) open now.");
        _meter.CreateObservableCounter("transparentsocks.udp.flows", () => PerInbound(s => s.Udp.Total), "{flow}", "UDP flows (an interface) or associations (the server) opened.");
        _meter.CreateObservableCounter("transparentsocks.udp.datagrams", () => PerDirection(u => (u.DatagramsUp, u.DatagramsDown)), "{datagram}", "UDP datagrams relayed; up is client to destination.");
        _meter.CreateObservableCounter("transparentsocks.udp.bytes", () => PerDirection(u => (u.BytesUp, u.BytesDown)), "By", "UDP payload bytes relayed; up is client to destination.");
        _meter.CreateObservableCounter("transparentsocks.udp.dropped", ObserveUdpDrops, "{datagram}", "UDP datagrams not passed on, by reason.");
        _meter.CreateObservableCounter("transparentsocks.udp.evictions", () => PerInbound(s => s.Udp.Evicted), "{flow}", "UDP flows closed early because the flow table was full.");
        _meter.CreateObservableCounter("transparentsocks.udp.association_failures", () => PerInbound(s => s.Udp.FailedOpens), "{failure}", "UDP associations with the upstream that could not be opened.");
        _meter.CreateObservableUpDownCounter("transparentsocks.udp.reply_sockets", ObserveReplySockets, "{socket}", "Transparent sockets open to send UDP replies from the remote address; each is one fd.");

        // Upstreams are labelled by the names the operator gave them in the config, never by their address: the
        // name is what an alert should say, and an address (or a user) in a label would leak into every dashboard.
        _meter.CreateObservableCounter("transparentsocks.upstream.connections", () => PerUpstream(s => s.Connections), "{connection}", "Connections opened through the upstream (or group), pooled ones included.");
        _meter.CreateObservableCounter("transparentsocks.upstream.dial_failures", () => PerUpstream(s => s.Failures), "{failure}", "Dials through the upstream (or group) that failed; a group counts a dial once, after its retries.");
        _meter.CreateObservableGauge("transparentsocks.upstream.up", () => PerMember(m => m.IsUp ? 1 : 0), description: "1 while the group's member is healthy and chosen for new sessions, 0 while it is down.");
        _meter.CreateObservableGauge("transparentsocks.upstream.health_check_duration", ObserveCheckDuration, "s", "How long the member's last health check took: connect, handshake and the target's CONNECT.");
        _meter.CreateObservableCounter("transparentsocks.upstream.health_checks", () => PerMember(m => m.Checks), "{check}", "Active health checks of the member.");
        _meter.CreateObservableCounter("transparentsocks.upstream.health_failures", ObserveMemberFailures, "{failure}", "The member's failures by reason (refused, timeout, auth, handshake, target), checks and real dials together.");
        _meter.CreateObservableUpDownCounter("transparentsocks.upstream.in_flight", () => PerMember(m => m.InFlight), "{connection}", "Dials in progress and sessions open through the member: what least-connections balances.");
    }

    /// <summary>The engine's inbounds as the metrics label them.</summary>
    public static IReadOnlyList<MeteredInbound> Inbounds(IEnumerable<InboundView> inbounds)
        => [.. inbounds.Select(i => new MeteredInbound(i.Path, i.Interface, i.Stats))];

    /// <summary>The engine's reply sockets, when its transparent path relays UDP.</summary>
    public static MeteredReplySockets? ReplySockets(ProxyEngine engine)
        => engine.Transparent is { Udp: { } udp } path ? new MeteredReplySockets(InboundView.PathOf(path.Settings.Mode), udp.ReplySocketCount) : null;

    private IEnumerable<Measurement<long>> PerInbound(Func<InboundStats, long> read)
        => _inbounds().Select(i => new Measurement<long>(read(i.Stats), Labels(i)));

    private IEnumerable<Measurement<long>> ObserveAuthFailures()
        => _inbounds().Where(i => i.Interface is null).Select(i => new Measurement<long>(i.Stats.AuthFailures, Labels(i)));

    private IEnumerable<Measurement<long>> ObserveConnectFailures()
    {
        // Every reason is reported, zeros included, so that rate() has a series from the start.
        foreach (var inbound in _inbounds())
        {
            foreach (var reason in Reasons)
            {
                yield return new Measurement<long>(inbound.Stats.DialFailures(reason), [.. Labels(inbound), new("reason", reason.ToReason())]);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveBytes()
    {
        var inbounds = _inbounds();
        var traffic = _sessions.Traffic([.. inbounds.Select(i => i.Stats)]);
        foreach (var inbound in inbounds)
        {
            // The floor keeps a session that closed mid-read (missed once, see SessionTable.Traffic) from looking like a counter reset.
            var (relayedUp, relayedDown) = traffic.Of(inbound.Stats);
            var (up, down) = _bytesFloor.Raise(inbound.Stats, relayedUp, relayedDown);
            yield return new Measurement<long>(up, [.. Labels(inbound), new("direction", "up")]);
            yield return new Measurement<long>(down, [.. Labels(inbound), new("direction", "down")]);
        }
    }

    private IEnumerable<Measurement<long>> ObserveSniffed()
    {
        // Both protocols, zeros included, so that rate() has a series from the start; the server never sniffs.
        foreach (var inbound in _inbounds())
        {
            if (inbound.Interface is not null)
            {
                yield return new Measurement<long>(inbound.Stats.SniffedTls, [.. Labels(inbound), Tls]);
                yield return new Measurement<long>(inbound.Stats.SniffedHttp, [.. Labels(inbound), Http]);
            }
        }
    }

    private IEnumerable<Measurement<long>> PerDirection(Func<UdpStats, (long Up, long Down)> read)
    {
        foreach (var inbound in _inbounds())
        {
            var (up, down) = read(inbound.Stats.Udp);
            yield return new Measurement<long>(up, [.. Labels(inbound), new("direction", "up")]);
            yield return new Measurement<long>(down, [.. Labels(inbound), new("direction", "down")]);
        }
    }

    private IEnumerable<Measurement<long>> ObserveUdpDrops()
    {
        // Every reason, zeros included, as for connect failures: a drop that starts is a rate, not a new series.
        foreach (var inbound in _inbounds())
        {
            foreach (var reason in UdpStats.Reasons)
            {
                yield return new Measurement<long>(inbound.Stats.Udp.Dropped(reason), [.. Labels(inbound), DropReasons[(int)reason]]);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveReplySockets()
    {
        if (_replySockets() is { } sockets)
        {
            yield return new Measurement<long>(sockets.Open, new KeyValuePair<string, object?>("path", sockets.Path));
        }
    }

    private IEnumerable<Measurement<long>> ObserveDiverted(Func<(long Packets, long Bytes), long> read)
    {
        var interfaces = _inbounds().Where(i => i.Interface is not null).ToArray();
        if (interfaces.Length == 0)
        {
            yield break;
        }

        // An interface without a counter (nft unreadable this time) is left out rather than reported as 0: a 0
        // after real values would read as a reset. The kernel's own resets (table replaced) pass through as such.
        var counters = _diverted();
        foreach (var inbound in interfaces)
        {
            if (counters.TryGetValue(NftRuleset.CounterName(inbound.Interface!), out var counter))
            {
                yield return new Measurement<long>(read(counter), new KeyValuePair<string, object?>("iface", inbound.Interface));
            }
        }
    }

    private IEnumerable<Measurement<long>> PerUpstream(Func<DialerStats, long> read)
    {
        foreach (var entry in _upstreams()?.Entries ?? [])
        {
            yield return new Measurement<long>(read(entry.Dialer.Stats), new KeyValuePair<string, object?>("upstream", entry.Name));
        }
    }

    private IEnumerable<(string Group, UpstreamMember Member)> Members()
    {
        foreach (var entry in _upstreams()?.Entries ?? [])
        {
            if (entry.Group is { } group)
            {
                foreach (var member in group.Members)
                {
                    yield return (entry.Name, member);
                }
            }
        }
    }

    private IEnumerable<Measurement<long>> PerMember(Func<UpstreamMember, long> read)
        => Members().Select(m => new Measurement<long>(read(m.Member), MemberLabels(m.Group, m.Member)));

    private IEnumerable<Measurement<double>> ObserveCheckDuration()
    {
        // A member not yet checked has no sample: a 0 would read as an instant check.
        foreach (var (group, member) in Members())
        {
            if (member.LastCheckLatency is { } latency)
            {
                yield return new Measurement<double>(latency.TotalSeconds, MemberLabels(group, member));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveMemberFailures()
    {
        // Every reason, zeros included, so that an alert on rate() has its series before the first failure.
        foreach (var (group, member) in Members())
        {
            foreach (var reason in HealthReasonNames.Failures)
            {
                yield return new Measurement<long>(member.FailuresBy(reason), [.. MemberLabels(group, member), new("reason", reason.ToReason())]);
            }
        }
    }

    private static KeyValuePair<string, object?>[] MemberLabels(string group, UpstreamMember member)
        => [new("group", group), new("upstream", member.Name)];

    private static KeyValuePair<string, object?>[] Labels(MeteredInbound inbound)
        => inbound.Interface is null
            ? [new("path", inbound.Path)]
            : [new("path", inbound.Path), new("iface", inbound.Interface)];

    /// <summary>The meter the instruments belong to, for the scraper.</summary>
    public Meter Meter => _meter;

    public void Dispose() => _meter.Dispose();
}
