using TransparentSocks.Addressing;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary><c>transparentsocks enable/disable IFACE</c>: which interfaces are diverted, and through which upstream.</summary>
internal sealed class InterfaceHandlers(ProxyService proxy, StateViews views, Changes changes)
{
    private readonly ProxyService _proxy = proxy;

    public async Task<ControlResponse> EnableAsync(string name, EnableInterfaceRequest request, Peer peer)
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

        if (request.Upstream is not null)
        {
            if (request.Proxy is not null)
            {
                throw new ApplyException(ErrorCodes.InvalidArgument, "upstream: an interface goes through its own proxy or a named upstream, not both", "upstream");
            }

            if (request.Username is not null || request.Password is not null)
            {
                throw new ApplyException(ErrorCodes.InvalidArgument, $"username: the credentials of '{request.Upstream}' are the upstream's own; set them with 'upstream add'", "username");
            }
        }

        var via = request.Proxy is not null ? $" proxy {request.Proxy}" : request.Upstream is not null ? $" upstream {request.Upstream}" : string.Empty;
        await changes.ChangeAsync(peer, $"enable {name}{via}{(request.MaxConnections is { } m ? $" max-connections {m}" : string.Empty)}", o =>
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
                iface.Upstream = null;
                iface.Username = request.Username;
                iface.Password = request.Password;
                iface.PasswordFile = null;
            }
            else if (request.Upstream is not null)
            {
                iface.Upstream = request.Upstream;
                iface.Proxy = null;
                iface.Username = null;
                iface.Password = null;
                iface.PasswordFile = null;
            }

            if (request.MaxConnections is { } max)
            {
                iface.MaxConnections = max;
            }
        }).ConfigureAwait(false);
        var info = (await views.InterfacesAsync().ConfigureAwait(false)).First(i => i.Name == name);
        return Ok(info, Json.InterfaceInfo);
    }

    public async Task<ControlResponse> DisableAsync(string name, Peer peer)
    {
        if (!_proxy.Options.Transparent.Interfaces.Any(i => i.Name == name))
        {
            throw new ApplyException(ErrorCodes.NotFound, $"interface '{name}' is not enabled", "interface");
        }

        await changes.ChangeAsync(peer, $"disable {name}", o => o.Transparent.Interfaces.RemoveAll(i => i.Name == name)).ConfigureAwait(false);
        return Ok(new MessageResponse($"{name} disabled; its running sessions continue"), Json.MessageResponse);
    }
}
