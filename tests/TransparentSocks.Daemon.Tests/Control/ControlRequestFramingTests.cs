using System.Net.Sockets;
using System.Text;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>
/// The control socket reads its requests with the same strict head parser as /metrics: a request it cannot frame
/// gets a 400 that names the fault, and the daemon goes on answering the next client.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ControlRequestFramingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MalformedRequests_Get400NamingTheFault_AndAWellFormedOneStillGets200()
    {
        await using var daemon = await ControlledDaemon.StartAsync("{}");
        var cases = new (string Request, string Fault)[]
        {
            ("GET /v1/status HTTP/1.1\nHost: localhost\n\n", "CRLF"),
            ("GET http://localhost/v1/status HTTP/1.1\r\n\r\n", "absolute path"),
            ("POST /v1/reload HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "two different Content-Length"),
            ("POST /v1/reload HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length is not a number"),
            ("POST /v1/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding is not supported"),
            ("POST /v1/reload HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", "over 65536 bytes"),
            ("\u0005\u0001\u0000", "method"),
        };

        foreach (var (request, fault) in cases)
        {
            var (status, body) = await ExchangeAsync(daemon.Socket, request);
            Assert.True(status == 400, $"{request.ReplaceLineEndings("|")}: HTTP {status} {body}");
            Assert.Contains(fault, body, StringComparison.Ordinal);
        }

        var (ok, status200Body) = await ExchangeAsync(daemon.Socket, "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        Assert.True(ok == 200, status200Body + daemon.Log);
    }

    private static async Task<(int Status, string Body)> ExchangeAsync(string socketPath, string request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var cancel = new CancellationTokenSource(Timeout);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancel.Token);
        await socket.SendAsync(Encoding.Latin1.GetBytes(request), cancel.Token);
        var response = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, cancel.Token);
            if (n == 0)
            {
                break;
            }

            response.Write(buffer, 0, n);
        }

        var text = Encoding.UTF8.GetString(response.ToArray());
        var status = text.Split(' ') is [_, var code, ..] && int.TryParse(code, out var parsed) ? parsed : 0;
        var bodyAt = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        return (status, bodyAt < 0 ? text : text[(bodyAt + 4)..]);
    }
}
