using TransparentSocks.Engine.Configuration;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Dialing;

/// <summary>An upstream or a group as <c>show upstreams</c> and the metrics list it.</summary>
/// <param name="Protocol">Null for a group.</param>
/// <param name="Address">The upstream's HOST:PORT; null for a group.</param>
public sealed record UpstreamEntry(string Name, IDialer Dialer, UpstreamProtocol? Protocol, Destination? Address, string? Username, bool HasPassword)
{
    public UpstreamGroup? Group => Dialer as UpstreamGroup;
}

/// <summary>
/// Every outbound a configuration names, built once per change and shared by the server and the transparent path:
/// the default upstream, the named ones, the groups over them, each interface's own <c>proxy</c>, and direct.
/// Building from the running catalog keeps every dialer and group whose settings did not change, so a reload that
/// touches something else keeps the pools warm and the health state of every member.
/// </summary>
public sealed class UpstreamCatalog
{
    private readonly Dictionary<string, UpstreamEntry> _named = new(StringComparer.Ordinal);
    private readonly List<UpstreamEntry> _entries = [];
    private readonly Dictionary<object, IDialer> _bySettings = [];
    private readonly Dictionary<string, (GroupKey Key, UpstreamGroup Group)> _groups = new(StringComparer.Ordinal);
    private readonly (TimeSpan Timeout, uint Mark) _directKey;
    private readonly EventLoopGroup? _loops;

    private UpstreamCatalog(DirectDialer direct, (TimeSpan, uint) directKey, EventLoopGroup? loops)
    {
        Direct = direct;
        _directKey = directKey;
        _loops = loops;
    }

    /// <summary>The server's <c>direct</c> outbound; its sockets carry the same mark as upstream ones.</summary>
    public DirectDialer Direct { get; }

    /// <summary>The default upstream (when configured), the named upstreams, then the groups, in config order.</summary>
    public IReadOnlyList<UpstreamEntry> Entries => _entries;

    /// <summary>Every upstream proxy's address, named or an interface's own: what nft must not divert back.</summary>
    public IEnumerable<Destination> Endpoints
        => _bySettings.Keys.Select(k => k switch
        {
            UpstreamDialerSettings s => s.Server,
            _ => (Destination?)null,
        }).OfType<Destination>().Distinct();

    /// <summary>Every dialer this catalog holds, for releasing the ones a newer catalog no longer uses.</summary>
    private IEnumerable<IDialer> All => _bySettings.Values.Concat(_groups.Values.Select(g => (IDialer)g.Group));

    /// <summary>The upstream or group named <paramref name="name"/> (<c>upstream</c> means <c>default</c>); null when there is none.</summary>
    public UpstreamEntry? Find(string name) => _named.GetValueOrDefault(UpstreamNames.Canonical(name));

    /// <summary>The server's outbound. Throws <see cref="InvalidOperationException"/> naming the field when it names nothing.</summary>
    public IDialer ForServer(ServerOptions server)
        => server.Outbound == UpstreamNames.Direct
            ? Direct
            : Find(server.Outbound)?.Dialer ?? throw new InvalidOperationException($"server.outbound: '{server.Outbound}' is not an upstream or a group");

    /// <summary>
    /// An interface's outbound: its own <c>proxy</c>, the upstream or group it names, or the default upstream.
    /// Throws <see cref="InvalidOperationException"/> starting with <paramref name="field"/> when there is none.
    /// </summary>
    public IDialer ForInterface(InterfaceOptions iface, TransparentSocksOptions options, string field)
    {
        if (iface.ProxyEndpoint is { } proxy)
        {
            return _bySettings[InterfaceProxySettings(options, proxy, iface)];
        }

        var name = iface.Upstream ?? UpstreamNames.Default;
        return Find(name)?.Dialer
               ?? throw new InvalidOperationException(iface.Upstream is null
                   ? $"{field}: interface '{iface.Name}' has no proxy or upstream, and upstream.address is not set"
                   : $"{field}: '{iface.Upstream}' is not an upstream or a group");
    }

    /// <summary>
    /// The catalog <paramref name="options"/> (validated) describes. Dialers and groups equal to ones in
    /// <paramref name="previous"/> are taken over from it rather than made again; groups made here start their
    /// checks on <paramref name="loops"/>.
    /// </summary>
    public static UpstreamCatalog Build(TransparentSocksOptions options, EventLoopGroup? loops, UpstreamCatalog? previous, ILogger groupLogger)
    {
        var mark = EngineSettings.OutboundMark(options);
        var directKey = (options.Upstream.ConnectTimeout, mark);
        var direct = previous is not null && previous._directKey == directKey ? previous.Direct : new DirectDialer(options.Upstream.ConnectTimeout, mark);
        var catalog = new UpstreamCatalog(direct, directKey, loops);

        if (options.Upstream.Address is not null)
        {
            catalog.AddUpstream(UpstreamNames.Default, options.Upstream, options, loops, previous);
        }

        foreach (var upstream in options.Upstreams)
        {
            catalog.AddUpstream(upstream.Name!, upstream, options, loops, previous);
        }

        foreach (var iface in options.Transparent.Interfaces)
        {
            if (iface.ProxyEndpoint is { } proxy)
            {
                catalog.Reuse(catalog.InterfaceProxySettings(options, proxy, iface), previous, s => new Socks5Dialer((Socks5DialerSettings)s));
            }
        }

        var definitions = options.Groups.ToDictionary(g => g.Name!, StringComparer.Ordinal);
        foreach (var group in options.Groups)
        {
            catalog.AddGroup(group, definitions, options, loops, previous, groupLogger, depth: 0);
        }

        // Entries list groups after upstreams, in the config's order, whatever order nesting built them in.
        catalog._entries.AddRange(options.Groups.Select(g => catalog._named[g.Name!]));
        return catalog;
    }

    /// <summary>Disposes what this catalog holds and <paramref name="successor"/> does not: pools close, checks stop.</summary>
    public async ValueTask RetireAsync(UpstreamCatalog? successor)
    {
        var kept = successor is null ? [] : new HashSet<IDialer>(successor.All, ReferenceEqualityComparer.Instance);
        foreach (var dialer in All)
        {
            if (!kept.Contains(dialer) && dialer is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void AddUpstream(string name, UpstreamOptions upstream, TransparentSocksOptions options, EventLoopGroup? loops, UpstreamCatalog? previous)
    {
        var server = upstream.Endpoint!.Value;
        var mark = EngineSettings.OutboundMark(options);
        var dialer = upstream.Protocol == UpstreamProtocol.Http
            ? Reuse(EngineSettings.Http(upstream, server, mark), previous, s => new HttpConnectDialer((HttpConnectDialerSettings)s))
            : Reuse(
                EngineSettings.Socks5(upstream, server, upstream.Username, upstream.EffectivePassword, mark, loops),
                previous,
                s => new Socks5Dialer((Socks5DialerSettings)s));
        var entry = new UpstreamEntry(name, dialer, upstream.Protocol, server, upstream.Username, upstream.EffectivePassword is not null);
        _named[name] = entry;
        _entries.Add(entry);
    }

    /// <summary>An interface's own proxy: SOCKS5 with the default upstream's timeouts, mark and pooling, as before named upstreams.</summary>
    private Socks5DialerSettings InterfaceProxySettings(TransparentSocksOptions options, Destination proxy, InterfaceOptions iface)
        => EngineSettings.Upstream(options, proxy, iface.Username, iface.EffectivePassword, forTransparentPath: true, _loops);

    private IDialer Reuse(object settings, UpstreamCatalog? previous, Func<object, IDialer> create)
    {
        if (_bySettings.TryGetValue(settings, out var mine))
        {
            return mine;
        }

        var dialer = previous?._bySettings.GetValueOrDefault(settings) ?? create(settings);
        _bySettings[settings] = dialer;
        return dialer;
    }

    private IDialer AddGroup(
        GroupOptions group, Dictionary<string, GroupOptions> definitions, TransparentSocksOptions options, EventLoopGroup? loops, UpstreamCatalog? previous,
        ILogger logger, int depth)
    {
        if (_groups.TryGetValue(group.Name!, out var built))
        {
            return built.Group;
        }

        // The validator refuses cycles; this only stops a config that skipped it from recursing without end.
        if (depth > definitions.Count)
        {
            throw new InvalidOperationException($"groups: '{group.Name}' is part of a cycle");
        }

        var members = new List<(string, IDialer)>();
        foreach (var raw in group.Members)
        {
            var name = UpstreamNames.Canonical(raw);
            var dialer = definitions.TryGetValue(name, out var nested)
                ? AddGroup(nested, definitions, options, loops, previous, logger, depth + 1)
                : _named.TryGetValue(name, out var upstream)
                    ? upstream.Dialer
                    : throw new InvalidOperationException($"groups: member '{raw}' of '{group.Name}' is not an upstream or a group");
            members.Add((name, dialer));
        }

        var health = new HealthCheckSettings(group.HealthCheck.Interval, group.HealthCheck.Timeout, group.HealthCheck.Failures, group.HealthCheck.Successes, group.HealthCheck.TargetEndpoint);
        var key = new GroupKey(PolicyOf(group.Policy), health, options.Upstream.ConnectTimeout, [.. members.Select(m => m.Item2)]);
        UpstreamGroup result;
        if (previous is not null && previous._groups.TryGetValue(group.Name!, out var old) && old.Key.Equals(key))
        {
            result = old.Group;
        }
        else
        {
            result = new UpstreamGroup(group.Name!, key.Policy, members, health, key.Budget, logger);
            if (loops is not null)
            {
                result.StartChecks(loops.Next());
            }
        }

        _groups[group.Name!] = (key, result);
        _named[group.Name!] = new UpstreamEntry(group.Name!, result, null, null, null, false);
        return result;
    }

    private static GroupPolicy PolicyOf(GroupPolicyKind kind) => kind switch
    {
        GroupPolicyKind.RoundRobin => GroupPolicy.RoundRobin,
        GroupPolicyKind.LeastConnections => GroupPolicy.LeastConnections,
        GroupPolicyKind.Hash => GroupPolicy.Hash,
        _ => GroupPolicy.Failover,
    };

    /// <summary>What makes a group the same group: its members are the very same dialers, not just equal names.</summary>
    private sealed record GroupKey(GroupPolicy Policy, HealthCheckSettings Health, TimeSpan Budget, IDialer[] Members)
    {
        public bool Equals(GroupKey? other)
            => other is not null && Policy == other.Policy && Health == other.Health && Budget == other.Budget
               && Members.Length == other.Members.Length && Members.Zip(other.Members).All(p => ReferenceEquals(p.First, p.Second));

        public override int GetHashCode() => HashCode.Combine(Policy, Health, Budget, Members.Length);
    }
}
