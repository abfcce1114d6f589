using System.Globalization;
using System.Text;
using TransparentSocks.Daemon.Network;
using TransparentSocks.Engine;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Nft;

namespace TransparentSocks.Daemon.Hosting;

/// <summary>
/// One line per inbound with the numbers of the original design: connections, bytes, failures by reason, and for
/// interfaces the packets and bytes the kernel diverted (read from our nft counters).
/// </summary>
internal static class StatsReport
{
    public static async Task<IReadOnlyList<string>> BuildAsync(ProxyEngine engine)
    {
        var lines = new List<string>();
        var inbounds = engine.Inbounds();
        var traffic = engine.Traffic(inbounds);
        if (engine.Server is { } server)
        {
            lines.Add($"server {server.LocalEndPoint}: accepted {server.Stats.Accepted}, rejected {server.Stats.Rejected}, "
                      + $"auth failures {server.Stats.AuthFailures}, {Describe(server.Stats, traffic)}");
        }

        if (engine.Transparent is { } path)
        {
            var counters = await NftClient.ReadCountersAsync().ConfigureAwait(false);
            foreach (var iface in path.Interfaces)
            {
                counters.TryGetValue(NftRuleset.CounterName(iface.Name), out var diverted);
                lines.Add($"interface {iface.Name}: upstream {iface.Dialer.Name}, maxConnections {iface.MaxConnections}, "
                          + $"diverted {diverted.Packets} packets {diverted.Bytes} bytes, rejected {iface.Stats.Rejected}, {Describe(iface.Stats, traffic)}{Sniffed(iface.Stats)}");
            }
        }

        return lines;
    }

    private static string Describe(InboundStats stats, Traffic traffic)
    {
        var (up, down) = traffic.Of(stats);
        var failures = new StringBuilder();
        foreach (var (error, count) in stats.DialFailureBreakdown())
        {
            if (count > 0)
            {
                failures.Append(CultureInfo.InvariantCulture, $" {error.ToReason()}={count}");
            }
        }

        return $"active {stats.Active}, total {stats.Total}, bytes up {up} down {down}, "
               + $"handshake failures {stats.HandshakeFailures}, connect failures {stats.TotalDialFailures}{(failures.Length > 0 ? $" ({failures.ToString().Trim()})" : string.Empty)}"
               + Udp(stats.Udp);
    }

    /// <summary>"; sniffed tls N http M", or nothing before the first sniffed name, so lines without sniffing stay as they were.</summary>
    internal static string Sniffed(InboundStats stats)
        => stats.SniffedTls == 0 && stats.SniffedHttp == 0
            ? string.Empty
            : string.Create(CultureInfo.InvariantCulture, $"; sniffed tls {stats.SniffedTls} http {stats.SniffedHttp}");

    /// <summary>"; udp flows …", or nothing for an inbound that never saw a datagram, so TCP-only lines stay as they were.</summary>
    internal static string Udp(UdpStats udp)
    {
        if (udp.Total == 0 && udp.DroppedTotal == 0)
        {
            return string.Empty;
        }

        var drops = new StringBuilder();
        foreach (var reason in UdpStats.Reasons)
        {
            if (udp.Dropped(reason) is var count and > 0)
            {
                drops.Append(CultureInfo.InvariantCulture, $" {reason.ToReason()}={count}");
            }
        }

        return string.Create(
            CultureInfo.InvariantCulture,
            $"; udp flows active {udp.Active} total {udp.Total}, datagrams up {udp.DatagramsUp} ({udp.BytesUp} bytes) down {udp.DatagramsDown} ({udp.BytesDown} bytes), "
            + $"dropped {udp.DroppedTotal}{(drops.Length > 0 ? $" ({drops.ToString().Trim()})" : string.Empty)}, evicted {udp.Evicted}, association failures {udp.FailedOpens}");
    }
}
