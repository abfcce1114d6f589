using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>Our SOCKS5 client against real servers from Debian: microsocks and danted, with and without auth.</summary>
[Trait("Category", "Integration")]
public sealed class Socks5DialerTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly EventLoopGroup _loops = new(1);

    public void Dispose() => _loops.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DialAsync_ThroughMicrosocks_ReachesTarget(bool auth)
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "through microsocks\n");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, auth ? "mu" : null, auth ? "mp-secret" : null);
        var dialer = Dialer(upstream.EndPoint, auth ? "mu" : null, auth ? "mp-secret" : null);

        var body = await FetchAsync(dialer, Destination.FromEndPoint(target.EndPoint));

        Assert.EndsWith("through microsocks\n", body, StringComparison.Ordinal);
        Assert.True(await upstream.WaitForLogAsync($"connected to {target.EndPoint}", Timeout), upstream.Log);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DialAsync_ThroughDante_ReachesTargetByAddressAndByName(bool auth)
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "through dante\n");
        await using var upstream = await Dante.StartAsync(IPAddress.Loopback, requireAuth: auth);
        var dialer = Dialer(upstream.EndPoint, auth ? Dante.Username : null, auth ? Dante.Password : null);

        Assert.EndsWith("through dante\n", await FetchAsync(dialer, Destination.FromEndPoint(target.EndPoint)), StringComparison.Ordinal);
        Assert.EndsWith("through dante\n", await FetchAsync(dialer, Destination.FromHost("localhost", target.EndPoint.Port)), StringComparison.Ordinal);
        Assert.True(await upstream.WaitForLogAsync(Dante.FormatLogEndPoint(target.EndPoint), Timeout), upstream.ReadLog());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DialAsync_Pipelined_ThroughDanteAndOurOwnServer_ReachesTargetByAddressAndByName(bool auth)
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "pipelined\n");
        await using var dante = await Dante.StartAsync(IPAddress.Loopback, requireAuth: auth);
        await using var own = ServerHarness.Start(new DirectDialer(Timeout), users: auth ? [("pu", "pp-secret")] : null);
        foreach (var (server, user, password) in new[] { (dante.EndPoint, Dante.Username, Dante.Password), (own.EndPoint, "pu", "pp-secret") })
        {
            var dialer = Dialer(server, auth ? user : null, auth ? password : null, pipelining: true);

            Assert.EndsWith("pipelined\n", await FetchAsync(dialer, Destination.FromEndPoint(target.EndPoint)), StringComparison.Ordinal);
            Assert.EndsWith("pipelined\n", await FetchAsync(dialer, Destination.FromHost("localhost", target.EndPoint.Port)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task DialAsync_Pipelined_GreetingAndRequestArriveBeforeTheServerAnswersAnything()
    {
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var destination = Destination.FromAddress(IPAddress.Parse("203.0.113.2"), 80);
        var dial = DialAsync(Dialer((IPEndPoint)listener.LocalEndPoint!, null, null, pipelining: true), destination);

        using var server = await listener.AcceptAsync().WaitAsync(Timeout);
        var expected = new byte[] { 5, 1, 0, 5, 1, 0, 1, 203, 0, 113, 2, 0, 80 };
        var got = new byte[expected.Length];
        for (var have = 0; have < got.Length;)
        {
            // Nothing is answered until all of it is in: a client that waited for the method would stop at 3 bytes.
            var n = await server.ReceiveAsync(got.AsMemory(have)).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.True(n > 0, "the client closed");
            have += n;
        }

        Assert.Equal(expected, got);
        await server.SendAsync(new byte[] { 5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 4, 56 });
        var result = await dial;
        try
        {
            Assert.True(result.Succeeded, result.ToString());
        }
        finally
        {
            result.Socket?.Dispose();
        }
    }

    [Fact]
    public async Task DialAsync_WrongPassword_ReportsUpstreamAuthFailed()
    {
        await using var upstream = await Dante.StartAsync(IPAddress.Loopback, requireAuth: true);
        var dialer = Dialer(upstream.EndPoint, Dante.Username, "not-the-password");

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, 9));

        Assert.Equal(DialError.UpstreamAuthFailed, result.Error);
    }

    [Fact]
    public async Task DialAsync_UpstreamRequiresAuthButNoneConfigured_ReportsUpstreamAuthFailed()
    {
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, "mu", "mp-secret");
        var dialer = Dialer(upstream.EndPoint, null, null);

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, 9));

        Assert.Equal(DialError.UpstreamAuthFailed, result.Error);
    }

    [Fact]
    public async Task DialAsync_DestinationRefusedAtUpstream_CarriesUpstreamReplyCode()
    {
        await using var upstream = await Dante.StartAsync(IPAddress.Loopback, requireAuth: false);
        var dialer = Dialer(upstream.EndPoint, null, null);
        var closedPort = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, closedPort));

        Assert.Equal(DialError.UpstreamRejected, result.Error);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, result.UpstreamReply);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, result.ReplyCode);
    }

    [Fact]
    public async Task DialAsync_UpstreamDown_FailsFastAsUnavailable()
    {
        var dead = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        var dialer = Dialer(dead, null, null);
        var started = DateTime.UtcNow;

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, 80));

        Assert.Equal(DialError.UpstreamUnavailable, result.Error);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task DialAsync_UpstreamSilent_TimesOutAtHandshakeDeadline()
    {
        // A listener that accepts (the kernel does) but never answers the greeting.
        using var silent = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen();
        var dialer = new Socks5Dialer(new Socks5DialerSettings
        {
            Server = Destination.FromEndPoint((IPEndPoint)silent.LocalEndPoint!),
            HandshakeTimeout = TimeSpan.FromMilliseconds(700),
        });

        var result = await DialAsync(dialer, Destination.FromAddress(IPAddress.Loopback, 80));

        Assert.Equal(DialError.TimedOut, result.Error);
    }

    [Fact]
    public async Task DialAsync_WithMark_SetsSoMarkOnUpstreamSocket()
    {
        await using var target = new EchoTarget(IPAddress.Loopback);
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback);
        var dialer = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint(upstream.EndPoint), Mark = 0x2a });

        var result = await DialAsync(dialer, Destination.FromEndPoint(target.EndPoint));
        try
        {
            Assert.True(result.Succeeded, result.ToString());
            Assert.Equal(0x2a, result.Socket!.GetOption(1, 36));
        }
        finally
        {
            result.Socket?.Dispose();
        }
    }

    private static Socks5Dialer Dialer(IPEndPoint server, string? user, string? password, bool pipelining = false) => new(new Socks5DialerSettings
    {
        Server = Destination.FromEndPoint(server),
        Username = user,
        Password = password,
        Pipelining = pipelining,
    });

    private async Task<DialResult> DialAsync(IDialer dialer, Destination destination)
        => await dialer.DialAsync(new DialRequest(destination, _loops.Next(), null)).AsTask().WaitAsync(Timeout);

    private async Task<string> FetchAsync(IDialer dialer, Destination destination)
        => await DialedHttp.GetAsync(await DialAsync(dialer, destination), "/dialer", Timeout);
}
