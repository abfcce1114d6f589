using System.Globalization;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary><c>GET /v1/sessions</c>: the live session table, filtered by inbound and cut to a limit.</summary>
internal sealed class SessionHandlers(ProxyService proxy)
{
    private readonly ProxyService _proxy = proxy;

    public ControlResponse Sessions(ControlRequest r)
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
}
