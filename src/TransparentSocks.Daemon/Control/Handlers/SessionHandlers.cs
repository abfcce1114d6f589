using System.Globalization;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>
/// <c>GET /v1/sessions</c>: the live TCP sessions and UDP flows, filtered by inbound, each list cut to the limit.
/// </summary>
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
            Host = s.Host,
            Upstream = s.Upstream,
            State = s.State.ToString().ToLowerInvariant(),
            BytesTx = s.Counters.BytesUp,
            BytesRx = s.Counters.BytesDown,
            AgeSeconds = Math.Round((now - s.StartedAt).TotalSeconds, 1),
        }).ToList();
        var flows = _proxy.Engine.UdpFlows().Where(f => string.IsNullOrEmpty(iface) || f.Ingress == iface).ToList();
        var udp = flows.Take(limit).Select(f => new UdpSessionInfo
        {
            Inbound = f.Ingress,
            Client = f.Client.ToString(),
            Destination = f.Destination.ToString(),
            Upstream = f.Upstream.Length == 0 ? null : f.Upstream,
            State = f.State,
            DatagramsTx = f.DatagramsUp,
            BytesTx = f.BytesUp,
            DatagramsRx = f.DatagramsDown,
            BytesRx = f.BytesDown,
            AgeSeconds = Math.Round((now - f.Opened).TotalSeconds, 1),
            IdleSeconds = Math.Round(f.Idle.TotalSeconds, 1),
        }).ToList();
        return Ok(new SessionsResponse(all.Count, list, flows.Count, udp), Json.SessionsResponse);
    }
}
