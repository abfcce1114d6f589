using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>The server's UDP ASSOCIATE in process, on loopback: the reply, the relay, and nothing left after the close.</summary>
[Trait("Category", "Unit")]
[Collection(nameof(FdSensitive))]
public sealed class Socks5ServerUdpTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task UdpAssociate_RepliesARelayOnTheAddressTheClientReached_AndEchoesThroughIt_ThenReleasesEverything()
    {
        await using var server = ServerHarness.Start();
        await using var echo = new UdpEchoTarget(IPAddress.Loopback);
        var before = FdCounter.Count();

        using (var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var control = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await control.ConnectAsync(server.EndPoint);
            using var association = await Socks5UdpAssociation.OpenAsync(control, Destination.FromAddress(IPAddress.Any, 0));

            Assert.Equal(IPAddress.Loopback, association.Bound.Address);
            Assert.NotEqual(0, association.Bound.Port);
            Assert.NotEqual(server.EndPoint.Port, association.Bound.Port);

            foreach (var size in new[] { 1, 1400, 8000 })
            {
                var payload = PseudoRandomBytes.Create(size, seed: size);
                var reply = await association.ExchangeAsync(udp, Destination.FromEndPoint(echo.EndPoint), payload, Wait);
                Assert.NotNull(reply);
                Assert.Equal(payload, reply.Payload);
                Assert.Equal(Destination.FromEndPoint(echo.EndPoint), reply.Source);
            }

            Assert.Equal(1, server.Server.Stats.Udp.Active);
            Assert.Equal(3, server.Server.Stats.Udp.DatagramsUp);
            Assert.Equal(3, server.Server.Stats.Udp.DatagramsDown);
        }

        // The TCP connection closed: the association, its relay socket and its outbound socket go with it.
        Assert.True(await Poll.UntilAsync(() => server.Server.Stats.Udp.Active == 0, Wait));
        Assert.True(await FdCounter.WaitForAsync(before, Wait) <= before, $"{FdCounter.Count()} fds, {before} before");
    }

    [Fact]
    public async Task UdpAssociate_ToTheServersOwnEndpoint_IsDroppedAsDenied()
    {
        await using var server = ServerHarness.Start();
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var control = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await control.ConnectAsync(server.EndPoint);
        using var association = await Socks5UdpAssociation.OpenAsync(control, Destination.FromEndPoint((IPEndPoint)udp.LocalEndPoint!));

        Assert.Null(await association.ExchangeAsync(udp, Destination.FromEndPoint(server.EndPoint), "loop"u8.ToArray(), TimeSpan.FromMilliseconds(500)));
        Assert.True(await Poll.UntilAsync(() => server.Server.Stats.Udp.Dropped(Stats.UdpDropReason.Denied) == 1, Wait));
    }
}
