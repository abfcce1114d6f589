using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Daemon.Network;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Linux.Network;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>
/// The transparent path as the kernel sees it: listeners per interface (engine), our nft table and the policy
/// routes. Start, reconfigure and stop keep the three in step, in the order that never lets a connection leak
/// around the proxy: listeners before rules when enabling, rules before listeners when disabling.
/// </summary>
internal sealed class TransparentController : IAsyncDisposable
{
    private readonly ProxyEngine _engine;
    private readonly ILogger _logger;
    private TransparentSocksOptions _all = new();
    private TransparentOptions _options = new();
    private UpstreamOptions _upstream = new();
    private UpstreamCatalog? _upstreams;
    private TransparentPath? _path;
    private NftRulesetSpec? _applied;

    // Decided once per start: under REDIRECT the kernel may lack the TPROXY that UDP needs.
    private bool _udp;

    public TransparentController(ProxyEngine engine, ILogger logger)
    {
        _engine = engine;
        _logger = logger;
    }

    public TransparentPath? Path => _path;

    public TransparentOptions Options => _options;

    /// <param name="upstreams">Where interfaces find their outbounds; its owner keeps it alive while the path uses it.</param>
    public async Task StartAsync(TransparentSocksOptions options, UpstreamCatalog upstreams)
    {
        _all = options;
        _options = options.Transparent;
        _upstream = options.Upstream;
        _upstreams = upstreams;
        _udp = await UdpDivertibleAsync().ConfigureAwait(false);
        _path = _engine.OpenTransparent(options, _udp);

        try
        {
            for (var i = 0; i < _options.Interfaces.Count; i++)
            {
                EnableListeners(_options.Interfaces[i], $"transparent.interfaces[{i}].name");
            }

            var spec = await BuildSpecAsync(_options.Interfaces.Select(i => i.Name!)).ConfigureAwait(false);
            await NftClient.ApplyAsync(NftRuleset.Render(spec)).ConfigureAwait(false);
            _applied = spec;

            // tproxy'd packets reach the local socket only through the marked route, whichever mode diverted them.
            if (_options.Mode == TransparentMode.Tproxy || _udp)
            {
                await PolicyRouting.InstallAsync(_options.Fwmark, _options.RouteTable, _options.RulePriority, _options.IPv6).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is NftException or InvalidOperationException)
        {
            // Nothing of ours may stay half-installed; a ruleset nft refused was never applied.
            await _engine.CloseTransparentAsync(TimeSpan.Zero).ConfigureAwait(false);
            _path = null;
            if (_applied is not null)
            {
                await NftClient.ApplyAsync(NftRuleset.RenderDelete()).ConfigureAwait(false);
                _applied = null;
            }

            throw new InvalidOperationException(ex is NftException ? $"transparent: {ex.Message}" : ex.Message, ex);
        }

        foreach (var warning in SystemChecks.Check(_options.Interfaces.Select(i => i.Name!), _options.IPv6))
        {
            Log.SystemWarning(_logger, warning);
        }

        Log.TransparentUp(_logger, _options.Mode, _options.Port, _options.Interfaces.Count, _udp ? "diverted" : "not diverted", _options.Fwmark, _options.RouteTable);
    }

    /// <summary>
    /// Brings the running path to a new configuration: interfaces, bypass list, upstreams, limits and timeouts.
    /// An nft failure or a listener that cannot bind leaves the kernel's ruleset and the running interfaces as they
    /// were. Mode, port, families, UDP and routing marks are structural: the caller restarts the path for those.
    /// </summary>
    public async Task ReconfigureAsync(TransparentSocksOptions options, UpstreamCatalog upstreams)
    {
        if (_path is null || _applied is null)
        {
            return;
        }

        var previous = (_all, _options, _upstream, _upstreams);
        var next = options.Transparent;
        _all = options;
        _options = next;
        _upstream = options.Upstream;
        _upstreams = upstreams;

        var current = _path.Interfaces.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var wanted = next.Interfaces.ToDictionary(i => i.Name!, StringComparer.Ordinal);
        var removed = current.Keys.Where(n => !wanted.ContainsKey(n)).ToList();
        var added = wanted.Keys.Where(n => !current.ContainsKey(n)).ToList();
        var enabledNow = new List<string>();
        try
        {
            var spec = await BuildSpecAsync(next.Interfaces.Select(i => i.Name!)).ConfigureAwait(false);
            foreach (var name in added)
            {
                EnableListeners(wanted[name], $"transparent.interfaces[{next.Interfaces.FindIndex(i => i.Name == name)}].name");
                enabledNow.Add(name);
            }

            // Only the set elements change when only the interfaces do: no rule is rebuilt and nothing else moves.
            var script = SameExceptInterfaces(spec, _applied)
                ? string.Concat(removed.Select(NftRuleset.RenderDisable)) + string.Concat(added.Select(NftRuleset.RenderEnable))
                : NftRuleset.Render(spec);
            if (script.Length > 0)
            {
                await NftClient.ApplyAsync(script).ConfigureAwait(false);
            }

            _applied = spec;
        }
        catch (Exception ex) when (ex is NftException or InvalidOperationException)
        {
            foreach (var name in enabledNow)
            {
                await _path.DisableAsync(name).ConfigureAwait(false);
            }

            (_all, _options, _upstream, _upstreams) = previous;
            throw;
        }

        _engine.UpdateTransparent(options);
        foreach (var (name, iface) in current)
        {
            if (wanted.TryGetValue(name, out var w))
            {
                iface.Update(new TransparentInterfaceSettings(name, ResolveDialer(w, $"transparent.interfaces[{next.Interfaces.IndexOf(w)}].name"), w.MaxConnections, upstreams.Direct));
            }
        }

        foreach (var name in removed)
        {
            await _path.DisableAsync(name).ConfigureAwait(false);
        }
    }

    /// <summary>Whether moving to <paramref name="next"/> needs the path torn down and built again.</summary>
    public static bool IsStructuralChange(TransparentOptions current, TransparentOptions next)
        => current.Mode != next.Mode || current.Port != next.Port || current.IPv6 != next.IPv6 || current.Udp != next.Udp || current.MaxUdpFlows != next.MaxUdpFlows
           || current.Fwmark != next.Fwmark
           || current.RouteTable != next.RouteTable || current.RulePriority != next.RulePriority;

    public async Task StopAsync(TimeSpan drain)
    {
        if (_path is null)
        {
            return;
        }

        // Listeners close first (new connections are dropped by the fail-closed rule and retried), sessions drain
        // while the rules still steer their packets, and only then do the rules and routes go.
        await _engine.CloseTransparentAsync(drain).ConfigureAwait(false);
        try
        {
            await NftClient.ApplyAsync(NftRuleset.RenderDelete()).ConfigureAwait(false);
        }
        catch (NftException ex)
        {
            Log.NftRemoveFailed(_logger, ex.Message);
        }

        await PolicyRouting.RemoveAsync(_options.Fwmark, _options.RouteTable, _options.RulePriority).ConfigureAwait(false);
        Log.TransparentDown(_logger);
        _path = null;
    }

    /// <summary>
    /// Whether this start diverts UDP. Under TPROXY the whole ruleset needs TPROXY, so a kernel without it fails the
    /// start anyway; under REDIRECT only UDP does, and TCP keeps working while the log says UDP is not diverted.
    /// </summary>
    private async Task<bool> UdpDivertibleAsync()
    {
        if (!_options.Udp)
        {
            return false;
        }

        if (_options.Mode == TransparentMode.Tproxy)
        {
            return true;
        }

        var refusal = await NftClient.CheckAsync(NftRuleset.RenderTproxyProbe(_options.IPv6)).ConfigureAwait(false);
        if (refusal is not null)
        {
            Log.UdpNotDiverted(_logger, refusal);
            return false;
        }

        return true;
    }

    private IDialer ResolveDialer(InterfaceOptions iface, string field) => _upstreams!.ForInterface(iface, _all, field);

    private void EnableListeners(InterfaceOptions iface, string field)
    {
        var dialer = ResolveDialer(iface, field);
        try
        {
            _path!.Enable(new TransparentInterfaceSettings(iface.Name!, dialer, iface.MaxConnections, _upstreams!.Direct));
        }
        catch (InvalidOperationException ex)
        {
            throw new InvalidOperationException($"{field}: {ex.Message}", ex);
        }
    }

    private static bool SameExceptInterfaces(NftRulesetSpec a, NftRulesetSpec b)
        => a.Mode == b.Mode && a.Port == b.Port && a.Fwmark == b.Fwmark && a.OutboundMark == b.OutboundMark && a.Ipv6 == b.Ipv6 && a.Udp == b.Udp
           && a.Bypass.SequenceEqual(b.Bypass) && a.UpstreamSources.SequenceEqual(b.UpstreamSources);

    private async Task<NftRulesetSpec> BuildSpecAsync(IEnumerable<string> interfaces)
    {
        var upstreams = new List<IpNetwork>();
        foreach (var endpoint in _upstreams!.Endpoints)
        {
            var addresses = endpoint.IsDomain
                ? (await HostResolver.ResolveAsync(endpoint.Host, TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false)).Addresses
                : [endpoint.Address];
            upstreams.AddRange(addresses.Select(Host));
        }

        return new NftRulesetSpec
        {
            Mode = _options.Mode,
            Port = _options.Port,
            Fwmark = _options.Fwmark,
            OutboundMark = _upstream.EffectiveMark(transparentEnabled: true),
            Ipv6 = _options.IPv6,
            Udp = _udp,
            Interfaces = [.. interfaces],
            Bypass = [.. _options.BypassNetworks, .. OwnAddresses(), .. upstreams],
            UpstreamSources = [.. upstreams.Distinct()],
        };
    }

    /// <summary>
    /// The box's own addresses: traffic to them is for this host, never for the proxy. Read at start and on reload.
    /// </summary>
    private static IEnumerable<IpNetwork> OwnAddresses()
    {
        var result = new List<IpNetwork>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                {
                    result.Add(Host(ua.Address));
                }
            }
        }
        catch (NetworkInformationException)
        {
        }

        return result.Distinct();
    }

    private static IpNetwork Host(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var plain = address.AddressFamily == AddressFamily.InterNetworkV6 ? new IPAddress(address.GetAddressBytes()) : address;
        return IpNetwork.Parse(plain.AddressFamily == AddressFamily.InterNetworkV6 ? $"{plain}/128" : $"{plain}/32");
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}
