using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary><c>transparentsocks reload</c>: the configuration file again, all of it or nothing, like SIGHUP.</summary>
internal sealed class ConfigHandlers(ProxyService proxy, ILogger logger)
{
    private readonly ProxyService _proxy = proxy;

    public async Task<ControlResponse> ReloadAsync(Peer peer)
    {
        Log.ControlReload(logger, peer);
        var errors = await _proxy.ReloadAsync().ConfigureAwait(false);
        if (errors.Count > 0)
        {
            var first = errors[0];
            var colon = first.IndexOf(':', StringComparison.Ordinal);
            return ControlResponse.Error(400, ErrorCodes.InvalidArgument, $"reload refused, the running configuration stays: {string.Join("; ", errors)}", colon > 0 ? first[..colon] : null);
        }

        return Ok(new MessageResponse($"reloaded {_proxy.Source.Path}"), Json.MessageResponse);
    }
}
