using System.Text.Json;
using TransparentSocks.Control;

namespace TransparentSocks.Core.Tests.Control;

/// <summary>The sniffing fields of the control API as the daemon writes them and the CLI reads them back.</summary>
[Trait("Category", "Unit")]
public sealed class SniffControlJsonTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    [Fact]
    public void InterfaceInfo_Sniffed_WritesTlsAndHttpCountsAndReadsThemBack()
    {
        var text = JsonSerializer.Serialize(Interface(new SniffedInfo { Tls = 7, Http = 2 }), ControlJsonContext.Wire.InterfaceInfo);

        using var json = JsonDocument.Parse(text);
        var sniffed = json.RootElement.GetProperty("sniffed");
        Assert.Equal(["tls", "http"], sniffed.EnumerateObject().Select(p => p.Name));
        Assert.Equal((7, 2), (sniffed.GetProperty("tls").GetInt64(), sniffed.GetProperty("http").GetInt64()));
        Assert.Equal(new SniffedInfo { Tls = 7, Http = 2 }, JsonSerializer.Deserialize(text, J.InterfaceInfo)!.Sniffed);
    }

    [Fact]
    public void InterfaceInfo_SniffingOff_WritesNullAndReadsItBack()
    {
        var text = JsonSerializer.Serialize(Interface(null), ControlJsonContext.Wire.InterfaceInfo);

        Assert.Contains("\"sniffed\": null", text, StringComparison.Ordinal);
        Assert.Null(JsonSerializer.Deserialize(text, J.InterfaceInfo)!.Sniffed);
    }

    [Fact]
    public void InterfaceInfo_FromADaemonWithoutSniffing_ReadsAsNotSniffed()
    {
        var text = JsonSerializer.Serialize(Interface(null), ControlJsonContext.Wire.InterfaceInfo).Replace("\"sniffed\": null", "\"x\": null", StringComparison.Ordinal);

        Assert.Null(JsonSerializer.Deserialize(text, J.InterfaceInfo)!.Sniffed);
    }

    [Fact]
    public void SessionInfo_Host_RoundTripsAndIsNullWhenNothingWasSniffed()
    {
        var sniffed = Session("example.com");
        var plain = Session(null);

        var back = JsonSerializer.Deserialize(JsonSerializer.Serialize(new SessionsResponse(2, [sniffed, plain]), ControlJsonContext.Wire.SessionsResponse), J.SessionsResponse)!;

        Assert.Equal([sniffed, plain], back.Sessions);
        Assert.Contains("\"host\": null", JsonSerializer.Serialize(plain, ControlJsonContext.Wire.SessionInfo), StringComparison.Ordinal);
    }

    [Fact]
    public void SessionInfo_FromADaemonWithoutSniffing_ReadsAsNoHost()
    {
        var back = JsonSerializer.Deserialize(
            """{"id":1,"inbound":"eth1","client":"192.0.2.20:5000","destination":"198.51.100.1:443","upstream":null,"state":"established","bytesTx":0,"bytesRx":0,"ageSeconds":1}""",
            J.SessionInfo)!;

        Assert.Null(back.Host);
    }

    private static SessionInfo Session(string? host) => new()
    {
        Id = 1,
        Inbound = "eth1",
        Client = "192.0.2.20:5000",
        Destination = "198.51.100.1:443",
        Host = host,
        State = "established",
        BytesTx = 10,
        BytesRx = 20,
        AgeSeconds = 1.5,
    };

    private static InterfaceInfo Interface(SniffedInfo? sniffed) => new()
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
        Sniffed = sniffed,
    };
}
