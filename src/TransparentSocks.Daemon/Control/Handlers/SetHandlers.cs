using System.Globalization;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>
/// <c>transparentsocks set ...</c>: the default upstream and the global settings. The settings answer with every
/// setting, so a client sees what its change left in place.
/// </summary>
internal sealed class SetHandlers(StateViews views, Changes changes)
{
    public async Task<ControlResponse> SetEndpointAsync(SetEndpointRequest request, Peer peer)
    {
        await changes.ChangeAsync(peer, $"set endpoint {request.Address}{(request.Username is null ? string.Empty : $" (user {request.Username})")}", o =>
        {
            o.Upstream.Address = request.Address;
            o.Upstream.Username = request.Username;
            o.Upstream.Password = request.Password;
            o.Upstream.PasswordFile = null;
        }).ConfigureAwait(false);
        return Ok(views.DefaultUpstream(), Json.UpstreamInfo);
    }

    public async Task<ControlResponse> SetTimeoutAsync(SetTimeoutRequest request, Peer peer)
    {
        // Checked under the API's own field name, before the change reaches the config's server and transparent fields.
        if (Durations.Check("timeout", request.Seconds) is { } error)
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, error, "timeout");
        }

        return await ChangeSettingAsync(peer, $"set timeout {request.Seconds.ToString(CultureInfo.InvariantCulture)}", o =>
        {
            o.Server.IdleTimeoutSeconds = request.Seconds;
            o.Transparent.IdleTimeoutSeconds = request.Seconds;
        }).ConfigureAwait(false);
    }

    public Task<ControlResponse> SetPoolingAsync(SetPoolingRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set pooling {(request.Enabled ? "on" : "off")}", o => o.Upstream.Pooling = request.Enabled);

    public Task<ControlResponse> SetVerboseAsync(SetVerboseRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set verbose {(request.Enabled ? "on" : "off")}", o => o.Logging.Level = request.Enabled ? LogLevelName.Debug : LogLevelName.Information);

    public Task<ControlResponse> SetMaxPoolSizeAsync(SetMaxPoolSizeRequest request, Peer peer)
        => ChangeSettingAsync(peer, $"set max-pool-size {request.Size.ToString(CultureInfo.InvariantCulture)}", o => o.Upstream.MaxPoolSize = request.Size);

    private async Task<ControlResponse> ChangeSettingAsync(Peer peer, string what, Action<TransparentSocksOptions> change)
    {
        await changes.ChangeAsync(peer, what, change).ConfigureAwait(false);
        return Ok(views.Settings(), Json.SettingsInfo);
    }
}
