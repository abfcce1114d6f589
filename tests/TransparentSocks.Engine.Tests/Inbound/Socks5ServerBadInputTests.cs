using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>
/// Malformed and hostile handshakes: each gets the exact reply the RFCs call for, then a close, and leaves no socket,
/// pipe or task behind. Tests in this class run one after another so the process-wide fd count is meaningful.
/// </summary>
[Collection(nameof(FdSensitive))]
[Trait("Category", "Unit")]
public sealed class Socks5ServerBadInputTests
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Handshake_SplitIntoOneByteWrites_IsServed()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(users: [("u", "p")]);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        client.NoDelay = true;

        async Task Dribble(byte[] bytes)
        {
            foreach (var b in bytes)
            {
                await client.SendAsync(new[] { b });
                await Task.Delay(2);
            }
        }

        await Dribble([5, 1, 2]);
        Assert.Equal(new byte[] { 5, 2 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        await Dribble([1, 1, (byte)'u', 1, (byte)'p']);
        Assert.Equal(new byte[] { 1, 0 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        await Dribble(Request(Destination.FromEndPoint(target.EndPoint)));
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.ReadReplyAsync(client)).Code);

        await client.SendAsync("x"u8.ToArray());
        Assert.Equal((byte)'x', (await Socks5TestClient.ReadExactlyAsync(client, 1))[0]);
    }

    [Fact]
    public async Task Handshake_GreetingAuthRequestAndDataInOneWrite_IsServedInOrder()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(users: [("user", "pass")]);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);

        byte[] all = [5, 1, 2, 1, 4, .. "user"u8, 4, .. "pass"u8, .. Request(Destination.FromEndPoint(target.EndPoint)), .. "early"u8];
        await client.SendAsync(all);

        Assert.Equal(new byte[] { 5, 2 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        Assert.Equal(new byte[] { 1, 0 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.ReadReplyAsync(client)).Code);
        // Bytes pipelined behind the request are early data for the destination, not lost.
        Assert.Equal("early"u8.ToArray(), await Socks5TestClient.ReadExactlyAsync(client, 5));
    }

    [Fact]
    public async Task Greeting_OnlyUnacceptableMethods_Replies05FFAndCloses()
    {
        await using var server = ServerHarness.Start(users: [("u", "p")]);
        var before = FdCounter.Count();
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(new byte[] { 5, 2, 0, 1 });
            Assert.Equal(new byte[] { 5, 0xFF }, await ReadUntilCloseAsync(client));
        }

        await AssertNoLeakAsync(server, before);
        Assert.Equal(1, server.Server.Stats.HandshakeFailures);
    }

    [Fact]
    public async Task Auth_WrongPasswordFollowedByConnect_ClosesAndNeverConnects()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(users: [("user", "pass")]);
        var before = FdCounter.Count();
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            byte[] all = [5, 1, 2, 1, 4, .. "user"u8, 5, .. "wrong"u8, .. Request(Destination.FromEndPoint(target.EndPoint))];
            await client.SendAsync(all);
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await ReadUntilCloseAsync(client));
        }

        await AssertNoLeakAsync(server, before);
        await Task.Delay(200);
        Assert.Empty(target.Clients);
        Assert.Equal(1, server.Server.Stats.AuthFailures);
    }

    [Fact]
    public async Task Auth_ZeroLengthUsername_RepliesFailureAndCloses()
    {
        await using var server = ServerHarness.Start(users: [("user", "pass")]);
        var before = FdCounter.Count();
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(new byte[] { 5, 1, 2, 1, 0, 4, (byte)'p', (byte)'a', (byte)'s', (byte)'s' });
            Assert.Equal(new byte[] { 5, 2, 1, 1 }, await ReadUntilCloseAsync(client));
        }

        await AssertNoLeakAsync(server, before);
    }

    [Theory]
    [InlineData(new byte[] { 5, 9, 0, 1, 127, 0, 0, 1, 0, 80 }, Socks5ReplyCode.CommandNotSupported)]
    [InlineData(new byte[] { 5, 2, 0, 1, 127, 0, 0, 1, 0, 80 }, Socks5ReplyCode.CommandNotSupported)]
    [InlineData(new byte[] { 5, 1, 0, 7, 127, 0, 0, 1, 0, 80 }, Socks5ReplyCode.AddressTypeNotSupported)]
    [InlineData(new byte[] { 5, 1, 0, 3, 0, 0, 80 }, Socks5ReplyCode.GeneralFailure)]
    [InlineData(new byte[] { 5, 3, 0, 1, 127, 0, 0, 1, 0, 80 }, Socks5ReplyCode.CommandNotSupported, false)]
    public async Task Request_Malformed_RepliesExactCodeAndCloses(byte[] request, Socks5ReplyCode expected, bool udp = true)
    {
        await using var server = ServerHarness.Start(udp: udp);
        var before = FdCounter.Count();
        byte[] reply;
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(new byte[] { 5, 1, 0 });
            Assert.Equal(new byte[] { 5, 0 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
            await client.SendAsync(request);
            reply = await ReadUntilCloseAsync(client);
        }

        Assert.Equal(10, reply.Length);
        Assert.Equal(5, reply[0]);
        Assert.Equal((byte)expected, reply[1]);
        Assert.Equal(1, reply[3]);
        await AssertNoLeakAsync(server, before);
    }

    [Fact]
    public async Task Greeting_HalfSentThenSilence_ClosedAtHandshakeDeadline()
    {
        await using var server = ServerHarness.Start(handshakeTimeout: TimeSpan.FromSeconds(1));
        var before = FdCounter.Count();
        var started = DateTime.UtcNow;
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            await client.SendAsync(new byte[] { 5, 2, 0 });
            Assert.Empty(await ReadUntilCloseAsync(client));
        }

        var elapsed = DateTime.UtcNow - started;
        Assert.InRange(elapsed, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(8));
        await AssertNoLeakAsync(server, before);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("0.0.0.0")]
    [InlineData("224.0.0.1")]
    public async Task Connect_DeniedDestination_RepliesNotAllowed(string host)
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(denied: NetworkSet.DefaultDeniedDestinations);
        var before = FdCounter.Count();
        var destination = host == "localhost"
            ? Destination.FromHost(host, target.EndPoint.Port)
            : Destination.FromAddress(IPAddress.Parse(host), target.EndPoint.Port);
        using (var client = await Socks5TestClient.ConnectAsync(server.EndPoint))
        {
            var reply = await Socks5TestClient.HandshakeAsync(client, destination);
            Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, reply.Code);
            Assert.Empty(await ReadUntilCloseAsync(client));
        }

        Assert.Empty(target.Clients);
        await AssertNoLeakAsync(server, before);
    }

    [Fact]
    public async Task Connect_ToServersOwnEndpoint_RepliesNotAllowedEvenWithDenyListOff()
    {
        await using var server = ServerHarness.Start(denied: NetworkSet.Empty);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);

        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(server.EndPoint));

        Assert.Equal(Socks5ReplyCode.NotAllowedByRuleset, reply.Code);
    }

    [Fact]
    public async Task Accept_ClientOutsideAllowedClients_IsClosedWithoutAReply()
    {
        await using var server = ServerHarness.Start(allowedClients: new NetworkSet([IpNetwork.Parse("192.0.2.0/24")]));
        await AssertRefusedWithoutReplyAsync(server.EndPoint);
        Assert.Equal(1, server.Server.Stats.Rejected);
    }

    [Fact]
    public async Task Accept_OverMaxConnections_ExtraClientIsRefused()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(maxConnections: 2);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var c = await Socks5TestClient.ConnectAsync(server.EndPoint);
                held.Add(c);
                Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.HandshakeAsync(c, Destination.FromEndPoint(target.EndPoint))).Code);
            }

            await AssertRefusedWithoutReplyAsync(server.EndPoint);
            Assert.Equal(1, server.Server.Stats.Rejected);
        }
        finally
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task ManyBadHandshakes_LeaveNoDescriptorsOrSessionsBehind()
    {
        await using var server = ServerHarness.Start(users: [("u", "p")], handshakeTimeout: TimeSpan.FromSeconds(2));
        var before = FdCounter.Count();
        byte[][] garbage =
        [
            [4, 1, 0, 80, 127, 0, 0, 1, 0],
            [5, 0],
            [5, 1, 0],
            [5, 1, 2, 2, 1, (byte)'u', 1, (byte)'p'],
            [5, 1, 2, 1, 1, (byte)'u', 1, (byte)'x'],
            [],
        ];
        for (var round = 0; round < 10; round++)
        {
            foreach (var bytes in garbage)
            {
                using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
                if (bytes.Length > 0)
                {
                    await client.SendAsync(bytes);
                }

                client.Shutdown(SocketShutdown.Send);

                // A failed handshake ends with the reply the RFCs call for, if any, then a FIN; a reset or a hang fails here.
                await ReadUntilCloseAsync(client);
            }
        }

        await AssertNoLeakAsync(server, before);
    }

    private static byte[] Request(Destination destination)
    {
        var buffer = new byte[300];
        var n = Socks5Codec.WriteRequest(buffer, Socks5Command.Connect, destination);
        return buffer[..n];
    }

    /// <summary>
    /// The pipeline closes a refused client with RST before reading from it. The connect, the send or the read may be
    /// the call that sees the reset, but one of them always does: nothing ever sends this client a FIN.
    /// </summary>
    private static async Task AssertRefusedWithoutReplyAsync(IPEndPoint endPoint)
    {
        var received = Array.Empty<byte>();
        var ex = await Record.ExceptionAsync(async () =>
        {
            using var client = await Socks5TestClient.ConnectAsync(endPoint);
            await client.SendAsync(new byte[] { 5, 1, 0 });
            received = await ReadUntilCloseAsync(client);
        });
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(ex).SocketErrorCode);
        Assert.Empty(received);
    }

    private static Task<byte[]> ReadUntilCloseAsync(Socket client) => Socks5TestClient.ReadToEndAsync(client, CloseTimeout);

    private static async Task AssertNoLeakAsync(ServerHarness server, int before)
    {
        var after = await FdCounter.WaitForAsync(before, TimeSpan.FromSeconds(5));
        Assert.True(after <= before, $"fds before {before}, after {after}");
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (server.Sessions.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, server.Sessions.Count);
    }
}

[CollectionDefinition(nameof(FdSensitive), DisableParallelization = true)]
public sealed class FdSensitive
{
}
