namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>
/// The one way a control call changes the daemon: <see cref="ProxyService.ChangeAsync"/> validates, applies live and
/// saves; only a change that took is logged, with the caller's uid and pid.
/// </summary>
internal sealed class Changes(ProxyService proxy, ILogger logger)
{
    private readonly ProxyService _proxy = proxy;

    public async Task ChangeAsync(Peer peer, string what, Action<TransparentSocksOptions> change)
    {
        await _proxy.ChangeAsync(change).ConfigureAwait(false);
        Log.ControlChanged(logger, what, peer);
    }
}
