using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace TransparentSocks.TestSupport;

/// <summary>
/// One datagram danted relayed, read from its log. Both directions use the same four endpoints:
/// the SOCKS client, danted's relay (the BND it answered), danted's outside socket, and the target.
/// </summary>
/// <param name="IsReply">False for client → target (<c>udp/udpassociate</c>), true for target → client (<c>udp/udpreply</c>).</param>
/// <param name="Size">The payload size, without the SOCKS5 UDP header.</param>
public sealed partial record DanteUdpDatagram(
    bool IsReply,
    IPEndPoint Client,
    IPEndPoint Relay,
    IPEndPoint External,
    IPEndPoint Target,
    int Size)
{
    /// <summary>Picks the per-datagram lines out of a danted log; other lines (session start and end) are skipped.</summary>
    public static IReadOnlyList<DanteUdpDatagram> ParseLog(string log)
    {
        var datagrams = new List<DanteUdpDatagram>();
        foreach (Match match in DatagramLine().Matches(log))
        {
            var endPoints = new[] { "a", "b", "c", "d" }.Select(g => ParseEndPoint(match.Groups[g].Value)).ToArray();
            if (endPoints.Any(e => e is null))
            {
                continue;
            }

            var size = int.Parse(match.Groups["size"].Value, CultureInfo.InvariantCulture);
            datagrams.Add(match.Groups["kind"].Value == "udpreply"
                ? new DanteUdpDatagram(true, endPoints[3]!, endPoints[2]!, endPoints[1]!, endPoints[0]!, size)
                : new DanteUdpDatagram(false, endPoints[0]!, endPoints[1]!, endPoints[2]!, endPoints[3]!, size));
        }

        return datagrams;
    }

    // Dante writes ADDRESS.PORT; the client side may carry "username%USER@" in front.
    private static IPEndPoint? ParseEndPoint(string text)
    {
        var at = text.LastIndexOf('@');
        if (at >= 0)
        {
            text = text[(at + 1)..];
        }

        var dot = text.LastIndexOf('.');
        return dot > 0
            && IPAddress.TryParse(text.AsSpan(0, dot), out var address)
            && int.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            ? new IPEndPoint(address, port)
            : null;
    }

    // e.g. "udp/udpassociate -: 127.0.0.1.45485 127.0.0.1.52981 -> 127.0.0.1.47181 127.0.0.1.21007 (15)": the
    // "-:" marks a datagram, where "[:" and "]:" mark a session's start and end.
    [GeneratedRegex(@"udp/(?<kind>udpassociate|udpreply) -: (?<a>\S+) (?<b>\S+) -> (?<c>\S+) (?<d>\S+) \((?<size>\d+)\)")]
    private static partial Regex DatagramLine();
}
