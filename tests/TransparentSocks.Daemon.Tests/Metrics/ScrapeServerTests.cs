using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Daemon.Metrics;

namespace TransparentSocks.Daemon.Tests.Metrics;

/// <summary>The /metrics listener on loopback, as Prometheus and as an attacker would use it.</summary>
[Trait("Category", "Unit")]
public sealed class ScrapeServerTests
{
    private const string Body = "# TYPE x gauge\nx 1\n";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static ScrapeServer Start(IPAddress? address = null, TimeSpan? timeout = null)
        => ScrapeServer.Start(new IPEndPoint(address ?? IPAddress.Loopback, 0), () => Body, NullLogger.Instance, timeout);

    [Fact]
    public async Task Get_Metrics_Answers200WithTheExpositionContentTypeAndCloses()
    {
        await using var server = Start();

        var response = await RequestAsync(server.EndPoint, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n", response, StringComparison.Ordinal);
        Assert.Contains($"\r\nContent-Length: {Body.Length}\r\n", response, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", response, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n" + Body, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_WithAQuery_IsTheSameScrape()
    {
        await using var server = Start();

        Assert.EndsWith(Body, await RequestAsync(server.EndPoint, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_HasTheLengthButNoBody()
    {
        await using var server = Start();

        var response = await RequestAsync(server.EndPoint, "HEAD /metrics HTTP/1.1\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
        Assert.Contains($"\r\nContent-Length: {Body.Length}\r\n", response, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405 Method Not Allowed", "Allow: GET, HEAD")]
    [InlineData("GET / HTTP/1.1\r\n\r\n", "404 Not Found", "/metrics")]
    [InlineData("GET /metrics/../etc/passwd HTTP/1.1\r\n\r\n", "404 Not Found", "/metrics")]
    [InlineData("GET http://192.0.2.1/metrics HTTP/1.1\r\n\r\n", "400 Bad Request", "absolute path")]
    [InlineData("\u0005\u0001\u0000", "400 Bad Request", "method")]
    [InlineData("GET /metrics HTTP/1.1\nHost: x\n\n", "400 Bad Request", "CRLF")]
    public async Task Refused_Request_GetsItsStatusAndReasonButNoMetrics(string request, string status, string reason)
    {
        await using var server = Start();

        var response = await RequestAsync(server.EndPoint, request);

        Assert.StartsWith($"HTTP/1.1 {status}\r\n", response, StringComparison.Ordinal);
        Assert.Contains(reason, response, StringComparison.Ordinal);
        Assert.DoesNotContain(Body, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedHead_Gets431()
    {
        await using var server = Start();
        var request = "GET /metrics HTTP/1.1\r\n" + string.Concat(Enumerable.Repeat("X-Pad: " + new string('p', 90) + "\r\n", 100)) + "\r\n";

        var response = await RequestAsync(server.EndPoint, request);

        Assert.StartsWith("HTTP/1.1 431 ", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestWithABody_StillGetsTheWholeResponse()
    {
        await using var server = Start();

        // 32 KB the server never reads as a request: it must drain them rather than reset the connection.
        var response = await RequestAsync(server.EndPoint, "GET /metrics HTTP/1.1\r\nContent-Length: 32768\r\n\r\n" + new string('b', 32768));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
        Assert.EndsWith(Body, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StalledClients_FillingEverySlot_DoNotLockOutAScrape()
    {
        // A long timeout, so only eviction can make room.
        await using var server = Start(timeout: TimeSpan.FromSeconds(60));
        var stalled = new List<Socket>();
        try
        {
            for (var i = 0; i < ScrapeServer.MaxConnections * 2; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                stalled.Add(socket);
                await socket.ConnectAsync(server.EndPoint);
                await socket.SendAsync("GET /metr"u8.ToArray());
            }

            var clock = Stopwatch.StartNew();
            var response = await RequestAsync(server.EndPoint, "GET /metrics HTTP/1.1\r\n\r\n");

            Assert.StartsWith("HTTP/1.1 200 OK\r\n", response, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < Patience, $"the scrape took {clock.Elapsed}");

            // The oldest stalled ones were closed to make room.
            Assert.Equal(0, await stalled[0].ReceiveAsync(new byte[16]).WaitAsync(Patience));
        }
        finally
        {
            stalled.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task StalledClient_IsClosedAtTheTimeout()
    {
        await using var server = Start(timeout: TimeSpan.FromMilliseconds(300));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.EndPoint);
        await socket.SendAsync("GET /metrics HTTP/1.1\r\nHost:"u8.ToArray());

        var clock = Stopwatch.StartNew();
        var n = await socket.ReceiveAsync(new byte[64]).WaitAsync(Patience);

        Assert.Equal(0, n);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(200), $"closed after {clock.Elapsed}");
    }

    [Fact]
    public async Task ConnectAndResetFlood_LeavesTheServerServing()
    {
        await using var server = Start();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        for (var i = 0; i < 500 && DateTime.UtcNow < deadline; i++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.EndPoint);
            if (i % 2 == 0)
            {
                await socket.SendAsync("GET /metrics HTTP/1.1\r\n"u8.ToArray());
            }

            socket.LingerState = new LingerOption(true, 0);
        }

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", await RequestAsync(server.EndPoint, "GET /metrics HTTP/1.1\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IPv6Loopback_IsServed()
    {
        await using var server = Start(IPAddress.IPv6Loopback);

        Assert.Equal(AddressFamily.InterNetworkV6, server.EndPoint.AddressFamily);
        Assert.EndsWith(Body, await RequestAsync(server.EndPoint, "GET /metrics HTTP/1.1\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IPv6Wildcard_AlsoTakesIPv4()
    {
        await using var server = Start(IPAddress.IPv6Any);

        Assert.EndsWith(Body, await RequestAsync(new IPEndPoint(IPAddress.Loopback, server.EndPoint.Port), "GET /metrics HTTP/1.1\r\n\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PortTaken_StartThrows()
    {
        await using var first = Start();

        Assert.Throws<SocketException>(() => ScrapeServer.Start(first.EndPoint, () => Body, NullLogger.Instance));
    }

    [Fact]
    public async Task Disposed_NoLongerListens()
    {
        var server = Start();
        var endPoint = server.EndPoint;
        await server.DisposeAsync();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var ex = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    private static async Task<string> RequestAsync(IPEndPoint endPoint, string request)
    {
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(Patience);
        await socket.ConnectAsync(endPoint, timeout.Token);
        await socket.SendAsync(Encoding.Latin1.GetBytes(request), timeout.Token);
        var response = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, timeout.Token)) > 0)
        {
            response.Write(buffer, 0, n);
        }

        return Encoding.UTF8.GetString(response.ToArray());
    }
}
