using System.Text.Json;
using TransparentSocks.Control;

namespace TransparentSocks.Core.Tests.Control;

/// <summary>The UDP fields of the control API as the daemon writes them and the CLI reads them back.</summary>
[Trait("Category", "Unit")]
public sealed class UdpControlJsonTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    private static readonly UdpInfo Udp = new()
    {
        ActiveFlows = 2,
        TotalFlows = 9,
        DatagramsUp = 40,
        BytesUp = 3200,
        DatagramsDown = 38,
        BytesDown = 64_000,
        Evicted = 1,
        AssociationFailures = 3,
        Dropped = 5,
        Drops = new Dictionary<string, long> { ["malformed"] = 1, ["fragmented"] = 0, ["queue_full"] = 4 },
    };

    [Fact]
    public void InterfaceInfo_WithUdp_RoundTripsEveryCounter()
    {
        var info = Interface(Udp);

        var back = JsonSerializer.Deserialize(JsonSerializer.Serialize(info, ControlJsonContext.Wire.InterfaceInfo), J.InterfaceInfo)!;

        Assert.Equal(Udp with { Drops = back.Udp!.Drops }, back.Udp);
        Assert.Equal(Udp.Drops, back.Udp.Drops);
    }

    [Fact]
    public void InterfaceInfo_WithUdp_WritesCamelCaseNames()
    {
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(Interface(Udp), ControlJsonContext.Wire.InterfaceInfo));

        var udp = json.RootElement.GetProperty("udp");
        Assert.Equal(
            ["activeFlows", "totalFlows", "datagramsUp", "bytesUp", "datagramsDown", "bytesDown", "evicted", "associationFailures", "dropped", "drops"],
            udp.EnumerateObject().Select(p => p.Name));
        Assert.Equal(4, udp.GetProperty("drops").GetProperty("queue_full").GetInt64());
    }

    [Fact]
    public void InterfaceInfo_UdpNotDiverted_WritesNullAndReadsItBack()
    {
        var text = JsonSerializer.Serialize(Interface(null), ControlJsonContext.Wire.InterfaceInfo);

        Assert.Contains("\"udp\": null", text, StringComparison.Ordinal);
        Assert.Null(JsonSerializer.Deserialize(text, J.InterfaceInfo)!.Udp);
    }

    [Fact]
    public void StatusResponse_TransparentUdp_RoundTrips()
    {
        var udp = new TransparentUdpInfo { ActiveFlows = 3, MaxFlows = 4096, ReplySockets = 2, MaxReplySockets = 1024 };
        var transparent = new TransparentInfo
        {
            Enabled = true, Mode = "tproxy", Port = 12345, Ipv6 = true, Fwmark = "0x5453", RouteTable = 5453, ActiveSessions = 0, Udp = udp,
        };

        var back = JsonSerializer.Deserialize(JsonSerializer.Serialize(transparent, J.TransparentInfo), J.TransparentInfo)!;

        Assert.Equal(transparent, back);
    }

    [Fact]
    public void SessionsResponse_UdpFlows_RoundTrip()
    {
        var flow = new UdpSessionInfo
        {
            Inbound = "eth1",
            Client = "192.0.2.20:53001",
            Destination = "198.51.100.53:53",
            Upstream = "default",
            State = "established",
            DatagramsTx = 12,
            BytesTx = 840,
            DatagramsRx = 11,
            BytesRx = 2048,
            AgeSeconds = 75.3,
            IdleSeconds = 4.2,
        };

        var back = JsonSerializer.Deserialize(JsonSerializer.Serialize(new SessionsResponse(0, [], 7, [flow]), J.SessionsResponse), J.SessionsResponse)!;

        Assert.Equal(7, back.UdpTotal);
        Assert.Equal(flow, Assert.Single(back.UdpFlows!));
    }

    [Fact]
    public void SessionsResponse_FromADaemonWithoutUdp_ReadsAsNoFlows()
    {
        var back = JsonSerializer.Deserialize("""{"total":0,"sessions":[]}""", J.SessionsResponse)!;

        Assert.Equal((0, null), (back.UdpTotal, back.UdpFlows));
    }

    [Fact]
    public void UpstreamInfo_UdpAssociations_RoundTripsAndDefaultsToZero()
    {
        var upstream = new UpstreamInfo { Name = "default", HasPassword = false, UsedBy = [], Connections = 1, Failures = 0, PooledIdle = 0, UdpAssociations = 4 };
        var text = JsonSerializer.Serialize(upstream, J.UpstreamInfo);

        Assert.Equal(4, JsonSerializer.Deserialize(text, J.UpstreamInfo)!.UdpAssociations);
        Assert.Equal(0, JsonSerializer.Deserialize(text.Replace("\"udpAssociations\": 4", "\"x\": 0", StringComparison.Ordinal), J.UpstreamInfo)!.UdpAssociations);
    }

    private static InterfaceInfo Interface(UdpInfo? udp) => new()
    {
        Name = "eth1",
        Status = "enabled",
        Proxy = "192.0.2.1:1080",
        MaxConnections = 0,
        ActiveSessions = 0,
        TotalSessions = 0,
        Rejected = 0,
        DivertedPackets = 0,
        DivertedBytes = 0,
        BytesUp = 0,
        BytesDown = 0,
        ConnectFailures = 0,
        Failures = new Dictionary<string, long>(),
        Udp = udp,
    };
}
