using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>The HTTP CONNECT upstream against a scripted proxy on loopback: what it sends, and how each answer reads.</summary>
[Trait("Category", "Unit")]
public sealed class HttpConnectDialerTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly Destination Target = Destination.FromHost("www.example.test", 443);
    private readonly Loop _loop = new("ts-test-http");

    public void Dispose() => _loop.Dispose();

    /// <summary>Accepts one connection, reads the request head, answers <paramref name="answer"/> (null: never).</summary>
    private sealed class ScriptedProxy : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly TaskCompletionSource<string> _request = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private Socket? _accepted;

        public ScriptedProxy(string? answer)
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                _accepted = await _listener.AcceptSocketAsync();
                var head = new StringBuilder();
                var one = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await _accepted.ReceiveAsync(one) == 1)
                {
                    head.Append((char)one[0]);
                }

                _request.TrySetResult(head.ToString());
                if (answer is not null)
                {
                    await _accepted.SendAsync(Encoding.ASCII.GetBytes(answer));
                }
            });
        }

        public Destination Server => Destination.FromEndPoint((IPEndPoint)_listener.LocalEndpoint);

        public Task<string> Request => _request.Task;

        public void Dispose()
        {
            _accepted?.Dispose();
            _listener.Stop();
        }
    }

    private HttpConnectDialer Dialer(ScriptedProxy proxy, string? user = null, string? password = null, TimeSpan? handshake = null)
        => new(new HttpConnectDialerSettings
        {
            Server = proxy.Server, Username = user, Password = password, ConnectTimeout = Wait, HandshakeTimeout = handshake ?? Wait,
        });

    [Fact]
    public async Task Established_LeavesTheTunnelsFirstBytesInTheSocket_AndSentTheAuthorization()
    {
        using var proxy = new ScriptedProxy("HTTP/1.1 200 Connection established\r\nProxy-Agent: scripted\r\n\r\nFIRST BYTES");
        var result = await Dialer(proxy, "gw", "pass").DialAsync(new DialRequest(Target, _loop));

        Assert.True(result.Succeeded, result.ToString());
        using var socket = result.Socket!;
        var buffer = new byte[64];
        var received = await socket.ReceiveAsync(buffer);
        Assert.Equal("FIRST BYTES", Encoding.ASCII.GetString(buffer, 0, received.Bytes));
        Assert.Equal(
            "CONNECT www.example.test:443 HTTP/1.1\r\nHost: www.example.test:443\r\nProxy-Authorization: Basic Z3c6cGFzcw==\r\n\r\n",
            await proxy.Request.WaitAsync(Wait));
    }

    [Theory]
    [InlineData("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure)]
    [InlineData("HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure)] // tinyproxy, wrong credentials
    [InlineData("HTTP/1.1 403 Forbidden\r\n\r\n", DialError.UpstreamRejected, Socks5ReplyCode.NotAllowedByRuleset)]
    [InlineData("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", DialError.UpstreamRejected, Socks5ReplyCode.HostUnreachable)]
    [InlineData("HTTP/1.1 504 Gateway Timeout\r\n\r\n", DialError.UpstreamRejected, Socks5ReplyCode.TtlExpired)]
    [InlineData("\u0005\u0000", DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure)]
    [InlineData("", DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure)]
    public async Task Refusal_IsReadAsItsDialError_WithTheNearestSocksReply(string answer, DialError error, Socks5ReplyCode reply)
    {
        using var proxy = new ScriptedProxy(answer);
        var dialer = Dialer(proxy);
        var dial = dialer.DialAsync(new DialRequest(Target, _loop));
        if (answer.Length == 0)
        {
            await proxy.Request.WaitAsync(Wait);
            proxy.Dispose();
        }

        var result = await dial;
        Assert.False(result.Succeeded);
        Assert.Equal(error, result.Error);
        Assert.Equal(reply, result.ReplyCode);
        Assert.Equal(1, dialer.Stats.Failures);
    }

    [Fact]
    public async Task SilentProxy_TimesOutAfterTheHandshakeTimeout()
    {
        using var proxy = new ScriptedProxy(answer: null);
        var result = await Dialer(proxy, handshake: TimeSpan.FromMilliseconds(400)).DialAsync(new DialRequest(Target, _loop)).AsTask().WaitAsync(Wait);

        Assert.Equal(DialError.TimedOut, result.Error);
    }

    [Fact]
    public async Task NobodyListening_IsUpstreamUnavailable()
    {
        var port = TransparentSocks.TestSupport.PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var dialer = new HttpConnectDialer(new HttpConnectDialerSettings { Server = Destination.FromAddress(IPAddress.Loopback, port), ConnectTimeout = Wait });
        var result = await dialer.DialAsync(new DialRequest(Target, _loop));

        Assert.Equal(DialError.UpstreamUnavailable, result.Error);
    }
}
