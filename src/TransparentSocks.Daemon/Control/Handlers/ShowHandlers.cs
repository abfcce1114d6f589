using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>The reads behind <c>transparentsocks show</c>: status, the server, the upstreams and one interface.</summary>
internal sealed class ShowHandlers(StateViews views)
{
    public async Task<ControlResponse> StatusAsync() => Ok(await views.StatusAsync().ConfigureAwait(false), Json.StatusResponse);

    public ControlResponse Server() => Ok(views.ServerInfo(), Json.ServerInfo);

    public ControlResponse Upstreams() => Ok(new UpstreamsResponse(views.Upstreams()), Json.UpstreamsResponse);

    public async Task<ControlResponse> InterfaceAsync(string name)
    {
        var info = (await views.InterfacesAsync().ConfigureAwait(false)).FirstOrDefault(i => i.Name == name);
        return info is null
            ? ControlResponse.Error(404, ErrorCodes.NotFound, $"interface '{name}' is not enabled", "interface")
            : Ok(info, Json.InterfaceInfo);
    }
}
