using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>Starting and stopping the SOCKS5 server; both answer with the server as it is afterwards.</summary>
internal sealed class ServerHandlers(StateViews views, Changes changes)
{
    public async Task<ControlResponse> StartAsync(ServerStartRequest request, Peer peer)
    {
        if (request.Username is not null && string.IsNullOrEmpty(request.Password))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, "password: required with a username", "password");
        }

        var outbound = request.Outbound is null ? string.Empty : $" outbound {request.Outbound}";
        await changes.ChangeAsync(peer, $"server start {request.Listen}{outbound}{(request.Username is null ? string.Empty : $" (user {request.Username})")}", o =>
        {
            o.Server.Enabled = true;
            o.Server.Listen = request.Listen;
            if (request.Outbound is not null)
            {
                o.Server.Outbound = request.Outbound;
            }

            if (request.Username is not null)
            {
                o.Server.Users = [new UserOptions { Username = request.Username, Password = request.Password }];
            }
        }).ConfigureAwait(false);
        return Ok(views.ServerInfo(), Json.ServerInfo);
    }

    public async Task<ControlResponse> StopAsync(Peer peer)
    {
        await changes.ChangeAsync(peer, "server stop", o => o.Server.Enabled = false).ConfigureAwait(false);
        return Ok(views.ServerInfo(), Json.ServerInfo);
    }
}
