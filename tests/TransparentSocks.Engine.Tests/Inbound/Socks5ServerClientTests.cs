using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>Real clients (curl, ncat) and real byte streams against the SOCKS5 server on loopback.</summary>
[Trait("Category", "Integration")]
public sealed class Socks5ServerClientTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Curl_Socks5hWithCredentials_FetchesByDomainName()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "via domain\n");
        await using var server = ServerHarness.Start(users: [("alice", "s3cret"), ("bob", "other")]);

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20",
            "-x", $"socks5h://alice:s3cret@{server.EndPoint}",
            $"http://localhost:{target.EndPoint.Port}/by-name",
        ], Timeout);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("via domain\n", result.Output);
        Assert.Equal("/by-name", Assert.Single(target.Requests).Path);
        Assert.Equal(1, server.Server.Stats.Total);
    }

    [Fact]
    public async Task Curl_Socks5hWithWrongPassword_FailsAndTargetIsNotContacted()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(users: [("alice", "s3cret")]);

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20", "-x", $"socks5h://alice:wrong@{server.EndPoint}", $"http://localhost:{target.EndPoint.Port}/",
        ], Timeout);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Empty(target.Requests);
        Assert.Equal(1, server.Server.Stats.AuthFailures);
    }

    [Fact]
    public async Task Curl_Socks5WithIPv4Literal_Fetches()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "via ipv4\n");
        await using var server = ServerHarness.Start();

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20", "--socks5", server.EndPoint.ToString(), $"http://{target.EndPoint}/v4",
        ], Timeout);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("via ipv4\n", result.Output);
    }

    [Fact]
    public async Task Curl_IPv6LiteralTarget_FetchesOverIPv6()
    {
        await using var target = new HttpTarget(IPAddress.IPv6Loopback, "via ipv6\n");
        await using var server = ServerHarness.Start();

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20", "-x", $"socks5h://{server.EndPoint}", $"http://[::1]:{target.EndPoint.Port}/v6",
        ], Timeout);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal("via ipv6\n", result.Output);
        Assert.Equal(IPAddress.IPv6Loopback, Assert.Single(target.Requests).Client.Address);
    }

    [Fact]
    public async Task Curl_ServerListeningOnIPv6_Fetches()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(listen: IPAddress.IPv6Loopback);

        var result = await ExternalProcess.RunAsync("curl", [
            "-sS", "--max-time", "20", "-x", $"socks5://[::1]:{server.EndPoint.Port}", target.Url.ToString(),
        ], Timeout);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(HttpTarget.DefaultBody, result.Output);
    }

    [Fact]
    public async Task Ncat_WithProxyAuthAndHalfClose_ReceivesWholeResponseAfterItsEof()
    {
        await using var target = new ResponseAfterEofTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(users: [("alice", "s3cret")]);
        var request = string.Concat(Enumerable.Repeat("0123456789abcdef", 4096));

        // ncat shuts its write side when stdin ends; the target answers only after that EOF arrives.
        var result = await ExternalProcess.RunAsync("ncat", [
            "--proxy", server.EndPoint.ToString(), "--proxy-type", "socks5", "--proxy-auth", "alice:s3cret",
            "127.0.0.1", target.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ], Timeout, stdin: request);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(target.ExpectedResponse(request.Length), result.Output);
        Assert.Equal(request.Length, Assert.Single(target.ReceivedCounts));
    }

    [Theory]
    [InlineData(RelayMode.Splice)]
    [InlineData(RelayMode.Copy)]
    public async Task Connect_64MiBEachWay_HashesMatch(RelayMode engine)
    {
        const long size = 64L << 20;
        await using var target = new HashTarget(IPAddress.Loopback, size, seed: 7);
        await using var server = ServerHarness.Start(engine: engine);

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(target.EndPoint));
        Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);

        var mine = await IntegrityClient.RunAsync(client, size, seed: 8).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(await target.WaitForCompletedConnectionsAsync(1, Timeout));
        var theirs = Assert.Single(target.Results);

        Assert.Equal(size, mine.ReceivedBytes);
        Assert.Equal(size, theirs.ReceivedBytes);
        Assert.Equal(mine.SentSha256, theirs.ReceivedSha256);
        Assert.Equal(theirs.SentSha256, mine.ReceivedSha256);
    }

    [Fact]
    public async Task Connect_Succeeded_ReplyCarriesOutgoingLocalAddress()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start();

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(target.EndPoint));

        Assert.Equal(Socks5ReplyCode.Succeeded, reply.Code);
        Assert.Equal(IPAddress.Loopback, reply.Bound.Address);
        Assert.NotEqual(0, reply.Bound.Port);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping", Encoding.ASCII.GetString(await Socks5TestClient.ReadExactlyAsync(client, 4)));
        // The bound port is the source port the target saw: the reply names the real outgoing socket.
        Assert.Equal(reply.Bound.Port, Assert.Single(target.Clients).Port);
    }

    [Fact]
    public async Task Connect_ClosedPort_RepliesConnectionRefused()
    {
        await using var server = ServerHarness.Start();
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromAddress(IPAddress.Loopback, closedPort));

        Assert.Equal(Socks5ReplyCode.ConnectionRefused, reply.Code);
        Assert.Equal(1, server.Server.Stats.DialFailures(TransparentSocks.Engine.Dialing.DialError.Refused));
    }

    [Fact]
    public async Task Connect_UnresolvableName_RepliesHostUnreachable()
    {
        await using var server = ServerHarness.Start();

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromHost("no-such-host.invalid", 80));

        Assert.Equal(Socks5ReplyCode.HostUnreachable, reply.Code);
    }

    [Fact]
    public async Task Session_IdleLongerThanTimeout_IsClosed()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(idleTimeout: TimeSpan.FromMilliseconds(800));

        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        Assert.Equal(Socks5ReplyCode.Succeeded, (await Socks5TestClient.HandshakeAsync(client, Destination.FromEndPoint(target.EndPoint))).Code);

        var rest = await Socks5TestClient.ReadToEndAsync(client, TimeSpan.FromSeconds(10));
        Assert.Empty(rest);
        Assert.Equal(0, server.Sessions.Count);
    }
}
