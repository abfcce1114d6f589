using System.Text.Json;
using TransparentSocks.Daemon.Control.Handlers;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control;

/// <summary>
/// Routes control requests to the handlers, and turns what they throw into the API's errors. A route's method is
/// checked before its body is read, so a wrong method is 405 whatever the body.
/// </summary>
internal sealed class ControlHandler
{
    private readonly ILogger _logger;
    private readonly InterfaceHandlers _interfaces;
    private readonly ShowHandlers _show;
    private readonly UpstreamHandlers _upstreams;
    private readonly Dictionary<string, Route> _routes;

    public ControlHandler(ProxyService proxy, ILogger logger)
    {
        _logger = logger;
        var views = new StateViews(proxy);
        var changes = new Changes(proxy, logger);
        var show = new ShowHandlers(views);
        var sessions = new SessionHandlers(proxy);
        var server = new ServerHandlers(views, changes);
        var set = new SetHandlers(views, changes);
        var config = new ConfigHandlers(proxy, logger);
        _show = show;
        _interfaces = new InterfaceHandlers(proxy, views, changes);
        _upstreams = new UpstreamHandlers(views, changes);
        _routes = new Dictionary<string, Route>(StringComparer.Ordinal)
        {
            [ControlApi.Status] = new("GET", (_, _) => show.StatusAsync()),
            [ControlApi.Server] = new("GET", (_, _) => Task.FromResult(show.Server())),
            [ControlApi.ServerStart] = new("POST", (r, peer) => server.StartAsync(Read(r, Json.ServerStartRequest), peer)),
            [ControlApi.ServerStop] = new("POST", (_, peer) => server.StopAsync(peer)),
            [ControlApi.Sessions] = new("GET", (r, _) => Task.FromResult(sessions.Sessions(r))),
            [ControlApi.Upstreams] = new("GET", (_, _) => Task.FromResult(show.Upstreams())),
            [ControlApi.Endpoint] = new("PUT", (r, peer) => set.SetEndpointAsync(Read(r, Json.SetEndpointRequest), peer)),
            [ControlApi.Timeout] = new("PUT", (r, peer) => set.SetTimeoutAsync(Read(r, Json.SetTimeoutRequest), peer)),
            [ControlApi.Pooling] = new("PUT", (r, peer) => set.SetPoolingAsync(Read(r, Json.SetPoolingRequest), peer)),
            [ControlApi.MaxPoolSize] = new("PUT", (r, peer) => set.SetMaxPoolSizeAsync(Read(r, Json.SetMaxPoolSizeRequest), peer)),
            [ControlApi.Verbose] = new("PUT", (r, peer) => set.SetVerboseAsync(Read(r, Json.SetVerboseRequest), peer)),
            [ControlApi.Reload] = new("POST", (_, peer) => config.ReloadAsync(peer)),
        };
    }

    public async Task<ControlResponse> HandleAsync(ControlRequest request, Peer peer)
    {
        Log.ControlRequest(_logger, request.Method, request.Path, peer);
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
            Log.ControlRefused(_logger, peer, ex.Message);
            return ControlResponse.Error(status, ex.Code, ex.Message, ex.Field);
        }
        catch (Exception ex)
        {
            Log.ControlFailed(_logger, request.Method, request.Path, ex);
            return ControlResponse.Error(500, ErrorCodes.Internal, "internal error; see the daemon's log");
        }
    }

    private async Task<ControlResponse> RouteAsync(ControlRequest r, Peer peer)
    {
        if (_routes.TryGetValue(r.Path, out var route))
        {
            return Method(r, route.Method) ?? await route.Handle(r, peer).ConfigureAwait(false);
        }

        // /v1/interfaces/NAME, NAME/enable, NAME/disable: the name is part of the path, so these are matched by shape.
        if (r.Path.StartsWith(ControlApi.InterfacesPrefix, StringComparison.Ordinal))
        {
            var rest = r.Path[ControlApi.InterfacesPrefix.Length..];
            if (rest.EndsWith("/enable", StringComparison.Ordinal))
            {
                return Post(r) ?? await _interfaces.EnableAsync(rest[..^"/enable".Length], Read(r, Json.EnableInterfaceRequest), peer).ConfigureAwait(false);
            }

            if (rest.EndsWith("/disable", StringComparison.Ordinal))
            {
                return Post(r) ?? await _interfaces.DisableAsync(rest[..^"/disable".Length], peer).ConfigureAwait(false);
            }

            if (!rest.Contains('/', StringComparison.Ordinal))
            {
                return Get(r) ?? await _show.InterfaceAsync(rest).ConfigureAwait(false);
            }
        }

        // /v1/upstreams/NAME/set|remove and /v1/groups/NAME/set|remove, matched by shape like the interfaces.
        if (NameAndVerb(r.Path, ControlApi.UpstreamsPrefix) is (var upstream, var upstreamVerb))
        {
            switch (upstreamVerb)
            {
                case "set":
                    return Post(r) ?? await _upstreams.SetUpstreamAsync(upstream, Read(r, Json.SetUpstreamRequest), peer).ConfigureAwait(false);
                case "remove":
                    return Post(r) ?? await _upstreams.RemoveUpstreamAsync(upstream, peer).ConfigureAwait(false);
            }
        }

        if (NameAndVerb(r.Path, ControlApi.GroupsPrefix) is (var group, var groupVerb))
        {
            switch (groupVerb)
            {
                case "set":
                    return Post(r) ?? await _upstreams.SetGroupAsync(group, Read(r, Json.SetGroupRequest), peer).ConfigureAwait(false);
                case "remove":
                    return Post(r) ?? await _upstreams.RemoveGroupAsync(group, peer).ConfigureAwait(false);
            }
        }

        return ControlResponse.Error(404, ErrorCodes.NotFound, $"no such control route: {r.Path}");
    }

    /// <summary>PREFIX + NAME/VERB split in two; null when the path has another shape.</summary>
    private static (string Name, string Verb)? NameAndVerb(string path, string prefix)
    {
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = path[prefix.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && rest.IndexOf('/', slash + 1) < 0 ? (rest[..slash], rest[(slash + 1)..]) : null;
    }

    /// <summary>An exact path: its one method, and the handler that reads the body and answers.</summary>
    private readonly record struct Route(string Method, Func<ControlRequest, Peer, Task<ControlResponse>> Handle);
}
