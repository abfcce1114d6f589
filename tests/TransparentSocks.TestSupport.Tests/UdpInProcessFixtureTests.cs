using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.TestSupport.Tests;

/// <summary>The UDP fixtures that need no other program: the echo target and the raw datagram builder, on loopback.</summary>
[Trait("Category", "Unit")]
public sealed class UdpInProcessFixtureTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, UdpEchoTarget.MaxDatagramSize)]
    [InlineData(true, 1400)]
    public async Task UdpEchoTarget_Datagram_EchoedWholeAndSourceRecorded(bool ipv6, int size)
    {
        var loopback = ipv6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        await using var target = new UdpEchoTarget(loopback);
        using var client = new Socket(loopback.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(loopback, 0));
        var sent = new byte[size];
        new PseudoRandomBytes(seed: 3).Fill(sent);

        await client.SendToAsync(sent, SocketFlags.None, target.EndPoint);
        var buffer = new byte[UdpEchoTarget.MaxDatagramSize + 1];
        using var timeout = new CancellationTokenSource(Wait);
        var received = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(loopback, 0), timeout.Token);

        Assert.Equal(sent, buffer.AsSpan(0, received.ReceivedBytes).ToArray());
        Assert.Equal(target.EndPoint, received.RemoteEndPoint);
        var record = Assert.Single(target.Received);
        Assert.Equal(client.LocalEndPoint, record.Source);
        Assert.Equal(size, record.Size);
        Assert.Empty(target.Errors);
    }

    [Fact]
    public async Task UdpEchoTarget_Dispose_ReleasesItsPort()
    {
        var target = new UdpEchoTarget(IPAddress.Loopback);
        var endPoint = target.EndPoint;

        await target.DisposeAsync();

        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(endPoint);
        Assert.Empty(target.Errors);
    }

    [Theory]
    [InlineData("203.0.113.2:7", 0)]
    [InlineData("[2001:db8:2::2]:53", 0)]
    [InlineData("name.example.test:53", 0)]
    [InlineData("203.0.113.2:7", 1)]
    public void BuildDatagram_AnyDestination_CodecReadsHeaderAndPayloadBack(string destination, byte fragment)
    {
        var parsed = Destination.Parse(destination);
        byte[] payload = [1, 2, 3, 4, 5];

        var datagram = Socks5UdpAssociation.BuildDatagram(parsed, payload, fragment);
        var header = Socks5Codec.ParseUdpHeader(datagram);

        Assert.True(header.IsDone, header.Error.ToString());
        Assert.Equal(parsed, header.Value.Destination);
        Assert.Equal(fragment, header.Value.Fragment);
        Assert.Equal(payload, datagram[header.Value.HeaderLength..]);
    }

    [Fact]
    public void ParseLog_DanteDatagramLines_BothDirectionsWithTheSameEndpoints()
    {
        const string Log = """
            Dec  7 01:55:00 (1796608500.729435) danted[9971]: info: pass(1): udp/udpassociate [: 0.45485 127.0.0.1.52981
            Dec  7 01:55:00 (1796608500.731236) danted[9987]: info: pass(1): udp/udpassociate -: username%tsocks-test@127.0.0.1.45485 127.0.0.1.52981 -> 127.0.0.1.47181 127.0.0.1.21007 (15)
            Dec  7 01:55:00 (1796608500.731469) danted[9987]: info: pass(2): udp/udpreply -: 2001:db8:2::2.7 2001:db8:2::1.40000 -> 2001:db8:1::1.52981 2001:db8:1::2.45485 (8000)
            Dec  7 01:55:00 (1796608500.733874) danted[9987]: info: pass(1): udp/udpassociate ]: 8035/2 -> 127.0.0.1.45485 127.0.0.1.52981 -> 8035/2, 8015/2 -> 127.0.0.1.47181 127.0.0.1.21007 -> 8015/2: local client closed.  Session duration: 0s
            """;

        var datagrams = DanteUdpDatagram.ParseLog(Log);

        Assert.Equal(
            [
                new DanteUdpDatagram(false, IPEndPoint.Parse("127.0.0.1:45485"), IPEndPoint.Parse("127.0.0.1:52981"),
                    IPEndPoint.Parse("127.0.0.1:47181"), IPEndPoint.Parse("127.0.0.1:21007"), 15),
                new DanteUdpDatagram(true, IPEndPoint.Parse("[2001:db8:1::2]:45485"), IPEndPoint.Parse("[2001:db8:1::1]:52981"),
                    IPEndPoint.Parse("[2001:db8:2::1]:40000"), IPEndPoint.Parse("[2001:db8:2::2]:7"), 8000),
            ],
            datagrams);
    }
}
