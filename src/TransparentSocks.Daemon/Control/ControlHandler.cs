using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using TransparentSocks.Addressing;
using TransparentSocks.Control;
using TransparentSocks.Daemon.Hosting;
using TransparentSocks.Daemon.Network;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Nft;
using TransparentSocks.Options;

namespace TransparentSocks.Daemon.Control;

/// <summary>
/// Routes control requests to the daemon. Reads answer from live state; changes go through
/// <see cref="ProxyService.ChangeAsync"/> (validate, apply live, save) and are logged with the caller's uid and pid.
/// </summary>
internal sealed class ControlHandler
{
    private static readonly ControlJsonContext Json = ControlJsonContext.Wire;

    private readonly ProxyService _proxy;
    private readonly ILogger _logger;

    public ControlHandler(ProxyService proxy, ILogger logger)
    {
        _proxy = proxy;
        _logger = logger;
    }

    public async Task<ControlResponse> HandleAsync(ControlRequest request, Peer peer)
    {
        _logger.LogDebug("control: {Method} {Path} from {Peer}", request.Method, request.Path, peer);
        try
        {
            return await RouteAsync(request, peer).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return ControlResponse.Error(400, ErrorCodes.InvalidJson, $"the request body is not valid JSON for this call: {ex.Message}");
        }
        catch (ApplyException ex)
        {
            var status = ex.Code switch
            {
                ErrorCodes.InvalidArgument => 400,
                ErrorCodes.NotFound => 404,
                ErrorCodes.FailedPrecondition => 409,
                _ => 500,
            };
            _logger.LogWarning("control: refused for {Peer}: {Error}", peer, ex.Message);
            return ControlResponse.Error(status, ex.Code, ex.Message, ex.Field);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "control: {Method} {Path} failed", request.Method, request.Path);
            return ControlResponse.Error(500, ErrorCodes.Internal, "internal error; see the daemon's log");
        }
    }

    private async Task<ControlResponse> RouteAsync(ControlRequest r, Peer peer)
    {
        switch (r.Path)
        {
            case ControlApi.Status:
                return Get(r) ?? Ok(await StatusAsync().ConfigureAwait(false), Json.StatusResponse);
            case ControlApi.Server:
                return Get(r) ?? Ok(ServerInfo(), Json.ServerInfo);
            case ControlApi.ServerStart:
                return Post(r) ?? await ServerStartAsync(Read(r, Json.ServerStartRequest), peer).ConfigureAwait(false);
            case ControlApi.ServerStop:
                return Post(r) ?? await ServerStopAsync(peer).ConfigureAwait(false);
            case ControlApi.Sessions:
                return Get(r) ?? Sessions(r);
            case ControlApi.Upstreams:
                return Get(r) ?? Ok(new UpstreamsResponse(Upstreams()), Json.UpstreamsResponse);
            case ControlApi.Endpoint:
                return Put(r) ?? await SetEndpointAsync(Read(r, Json.SetEndpointRequest), peer).ConfigureAwait(false);
            case ControlApi.Timeout:
                return Put(r) ?? await SetTimeoutAsync(Read(r, Json.SetTimeoutRequest), peer).ConfigureAwait(false);
            case ControlApi.Pooling:
                return Put(r) ?? await SetPoolingAsync(Read(r, Json.SetPoolingRequest), peer).ConfigureAwait(false);
            case ControlApi.MaxPoolSize:
                return Put(r) ?? await SetMaxPoolSizeAsync(Read(r, Json.SetMaxPoolSizeRequest), peer).ConfigureAwait(false);
            case ControlApi.Verbose:
                return Put(r) ?? await SetVerboseAsync(Read(r, Json.SetVerboseRequest), peer).ConfigureAwait(false);
            case ControlApi.Reload:
                return Post(r) ?? await ReloadAsync(peer).ConfigureAwait(false);
        }

        if (r.Path.StartsWith(ControlApi.InterfacesPrefix, StringComparison.Ordinal))
        {
            var rest = r.Path[ControlApi.InterfacesPrefix.Length..];
            if (rest.EndsWith("/enable", StringComparison.Ordinal))
            {
                return Post(r) ?? await EnableAsync(rest[..^"/enable".Length], Read(r, Json.EnableInterfaceRequest), peer).ConfigureAwait(false);
            }

            if (rest.EndsWith("/disable", StringComparison.Ordinal))
            {
                return Post(r) ?? await DisableAsync(rest[..^"/disable".Length], peer).ConfigureAwait(false);
            }

            if (!rest.Contains('/', StringComparison.Ordinal))
            {
                if (Get(r) is { } notGet)
                {
                    return notGet;
                }

                var info = (await InterfacesAsync().ConfigureAwait(false)).FirstOrDefault(i => i.Name == rest);
                return info is null
                    ? ControlResponse.Error(404, ErrorCodes.NotFound, $"interface '{rest}' is not enabled", "interface")
                    : Ok(info, Json.InterfaceInfo);
            }
        }

        return ControlResponse.Error(404, ErrorCodes.NotFound, $"no such control route: {r.Path}");
    }

    // ---- reads ----

    private async Task<StatusResponse> StatusAsync()
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
            },
            Interfaces = await InterfacesAsync().ConfigureAwait(false),
        };
    }

    private SettingsInfo Settings()
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

    private ServerInfo ServerInfo()
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
        };
    }

    private async Task<List<InterfaceInfo>> InterfacesAsync()
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
            });
        }

        return result;
    }

    private (long Up, long Down) Bytes(InboundStats stats) => _proxy.Sessions.BytesOf(stats);

    private static Dictionary<string, long> Failures(InboundStats stats)
        => stats.DialFailureBreakdown().Where(f => f.Count > 0).ToDictionary(f => f.Error.ToReason(), f => f.Count);

    private UpstreamInfo DefaultUpstream()
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
        };

    private List<UpstreamInfo> Upstreams()
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

    private ControlResponse Sessions(ControlRequest r)
    {
        var iface = r.Query.GetValueOrDefault("iface");
        var limit = int.MaxValue;
        if (r.Query.TryGetValue("limit", out var limitText)
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            return ControlResponse.Error(400, ErrorCodes.InvalidArgument, $"limit must be a positive number, not '{limitText}'", "limit");
        }

        var now = DateTimeOffset.UtcNow;
        var all = _proxy.Sessions.Snapshot().Where(s => string.IsNullOrEmpty(iface) || s.Inbound == iface).ToList();
        var list = all.Take(limit).Select(s => new SessionInfo
        {
            Id = s.Id,
            Inbound = s.Inbound,
            Client = s.ClientEndPoint.ToString(),
            Destination = s.Destination.IsDefault ? "-" : s.Destination.ToString(),
            Upstream = s.Upstream,
            State = s.State.ToString().ToLowerInvariant(),
            BytesTx = s.Counters.BytesUp,
            BytesRx = s.Counters.BytesDown,
            AgeSeconds = Math.Round((now - s.StartedAt).TotalSeconds, 1),
        }).ToList();
        return Ok(new SessionsResponse(all.Count, list), Json.SessionsResponse);
    }

    // ---- changes ----

    private async Task<ControlResponse> ServerStartAsync(ServerStartRequest request, Peer peer)
    {
        if (request.Username is not null && string.IsNullOrEmpty(request.Password))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, "password: required with a username", "password");
        }

        await ChangeAsync(peer, $"server start {request.Listen}{(request.Username is null ? string.Empty : $" (user {request.Username})")}", o =>
        {
            o.Server.Enabled = true;
            o.Server.Listen = request.Listen;
            if (request.Username is not null)
            {
                o.Server.Users = [new UserOptions { Username = request.Username, Password = request.Password }];
            }
        }).ConfigureAwait(false);
        return Ok(ServerInfo(), Json.ServerInfo);
    }

    private async Task<ControlResponse> ServerStopAsync(Peer peer)
    {
        await ChangeAsync(peer, "server stop", o => o.Server.Enabled = false).ConfigureAwait(false);
        return Ok(ServerInfo(), Json.ServerInfo);
    }

    private async Task<ControlResponse> SetEndpointAsync(SetEndpointRequest request, Peer peer)
    {
        await ChangeAsync(peer, $"set endpoint {request.Address}{(request.Username is null ? string.Empty : $" (user {request.Username})")}", o =>
        {
            o.Upstream.Address = request.Address;
            o.Upstream.Username = request.Username;
            o.Upstream.Password = request.Password;
            o.Upstream.PasswordFile = null;
        }).ConfigureAwait(false);
        return Ok(DefaultUpstream(), Json.UpstreamInfo);
    }

    private async Task<ControlResponse> SetTimeoutAsync(SetTimeoutRequest request, Peer peer)
    {
        if (!(request.Seconds > 0))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, $"timeout: must be greater than 0 seconds, not {request.Seconds.ToString(CultureInfo.InvariantCulture)}", "timeout");
        }

        return await ChangeSettingAsync(peer, $"set timeout {request.Seconds.ToString(CultureInfo.InvariantCulture)}", o =>
        {
            o.Server.IdleTimeoutSeconds = request.Seconds;
            o.Transparent.IdleTimeoutSeconds = request.Seconds;
        }).ConfigureAwait(false);
    }

    private Task<ControlResponse> SetPoolingAsync(SetPoolingRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set pooling {(request.Enabled ? "on" : "off")}", o => o.Upstream.Pooling = request.Enabled);

    private Task<ControlResponse> SetVerboseAsync(SetVerboseRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set verbose {(request.Enabled ? "on" : "off")}", o => o.Logging.Level = request.Enabled ? LogLevelName.Debug : LogLevelName.Information);

    private Task<ControlResponse> SetMaxPoolSizeAsync(SetMaxPoolSizeRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set max-pool-size {request.Size.ToString(CultureInfo.InvariantCulture)}", o => o.Upstream.MaxPoolSize = request.Size);

    private async Task<ControlResponse> ChangeSettingAsync(Peer peer, string what, Action<TransparentSocksOptions> change)
    {
        await ChangeAsync(peer, what, change).ConfigureAwait(false);
        return Ok(Settings(), Json.SettingsInfo);
    }

    private async Task<ControlResponse> EnableAsync(string name, EnableInterfaceRequest request, Peer peer)
    {
        // Checked here so an unknown name is "not found", not a bind error from deep inside.
        if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name is "." or ".." || !Directory.Exists($"/sys/class/net/{name}"))
        {
            throw new ApplyException(ErrorCodes.NotFound, $"interface '{name}' does not exist on this host", "interface");
        }

        if (request.Proxy is not null && !Destination.TryParse(request.Proxy, out _, out var proxyError))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, $"proxy: {proxyError}", "proxy");
        }

        await ChangeAsync(peer, $"enable {name}{(request.Proxy is null ? string.Empty : $" proxy {request.Proxy}")}{(request.MaxConnections is { } m ? $" max-connections {m}" : string.Empty)}", o =>
        {
            o.Transparent.Enabled = true;
            var iface = o.Transparent.Interfaces.FirstOrDefault(i => i.Name == name);
            if (iface is null)
            {
                iface = new InterfaceOptions { Name = name };
                o.Transparent.Interfaces.Add(iface);
            }

            if (request.Proxy is not null)
            {
                iface.Proxy = request.Proxy;
                iface.Username = request.Username;
                iface.Password = request.Password;
                iface.PasswordFile = null;
            }

            if (request.MaxConnections is { } max)
            {
                iface.MaxConnections = max;
            }
        }).ConfigureAwait(false);
        var info = (await InterfacesAsync().ConfigureAwait(false)).First(i => i.Name == name);
        return Ok(info, Json.InterfaceInfo);
    }

    private async Task<ControlResponse> DisableAsync(string name, Peer peer)
    {
        if (!_proxy.Options.Transparent.Interfaces.Any(i => i.Name == name))
        {
            throw new ApplyException(ErrorCodes.NotFound, $"interface '{name}' is not enabled", "interface");
        }

        await ChangeAsync(peer, $"disable {name}", o => o.Transparent.Interfaces.RemoveAll(i => i.Name == name)).ConfigureAwait(false);
        return Ok(new MessageResponse($"{name} disabled; its running sessions continue"), Json.MessageResponse);
    }

    private async Task<ControlResponse> ReloadAsync(Peer peer)
    {
        _logger.LogInformation("control: reload by {Peer}", peer);
        var errors = await _proxy.ReloadAsync().ConfigureAwait(false);
        if (errors.Count > 0)
        {
            var first = errors[0];
            var colon = first.IndexOf(':', StringComparison.Ordinal);
            return ControlResponse.Error(400, ErrorCodes.InvalidArgument, $"reload refused, the running configuration stays: {string.Join("; ", errors)}", colon > 0 ? first[..colon] : null);
        }

        return Ok(new MessageResponse($"reloaded {_proxy.Source.Path}"), Json.MessageResponse);
    }

    private async Task ChangeAsync(Peer peer, string what, Action<TransparentSocksOptions> change)
    {
        await _proxy.ChangeAsync(change).ConfigureAwait(false);
        _logger.LogInformation("control: {Change} by {Peer}", what, peer);
    }

    // ---- plumbing ----

    private static T Read<T>(ControlRequest r, JsonTypeInfo<T> type)
        => JsonSerializer.Deserialize(r.Body.Span, type) ?? throw new JsonException("empty body");

    private static ControlResponse Ok<T>(T value, JsonTypeInfo<T> type) => new(200, JsonSerializer.SerializeToUtf8Bytes(value, type));

    private static ControlResponse? Get(ControlRequest r) => Method(r, "GET");

    private static ControlResponse? Post(ControlRequest r) => Method(r, "POST");

    private static ControlResponse? Put(ControlRequest r) => Method(r, "PUT");

    private static ControlResponse? Method(ControlRequest r, string expected)
        => r.Method == expected ? null : ControlResponse.Error(405, ErrorCodes.MethodNotAllowed, $"{r.Path} takes {expected}, not {r.Method}");
}
