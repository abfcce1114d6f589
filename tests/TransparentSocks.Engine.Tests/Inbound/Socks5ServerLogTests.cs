using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Tests.Dialing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>What a client sends reaches the log escaped: it can neither forge a line nor send a terminal a command.</summary>
[Trait("Category", "Unit")]
public sealed class Socks5ServerLogTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AuthFailed_UserNameWithNewline_IsOneEscapedLogLine()
    {
        var log = new ListLogger();
        await using var server = ServerHarness.Start(users: [("alice", "s3cret")], logger: log);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);
        var user = "alice\n2025-01-01 00:00:00.000 [INF] forged: session 1 authenticated\r\u001b[2J\b"u8.ToArray();

        byte[] greetingAndAuth = [5, 1, 2, 1, (byte)user.Length, .. user, 1, (byte)'x'];
        await client.SendAsync(greetingAndAuth);

        Assert.Equal(new byte[] { 5, 2 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        Assert.Equal(new byte[] { 1, 1 }, await Socks5TestClient.ReadExactlyAsync(client, 2));
        Assert.True(await Poll.UntilAsync(() => log.Entries.Any(e => e.Id.Id == 1012), Timeout), "no authentication failure was logged");
        var line = Assert.Single(log.Text.Split('\n'), l => l.Contains("forged", StringComparison.Ordinal));
        Assert.Contains(@"user alice\x0A2025-01-01 00:00:00.000 [INF] forged: session 1 authenticated\x0D\x1B[2J\x08 from", line);
        Assert.DoesNotContain(log.Text, c => c is '\r' or '\u001b' or '\b');
    }

    [Fact]
    public async Task DialFailed_DomainWithC1Control_IsLoggedEscaped()
    {
        var log = new ListLogger();
        await using var upstream = new FakeSocks5Upstream { ConnectReply = Socks5ReplyCode.HostUnreachable };
        using var dialer = new Socks5Dialer(new Socks5DialerSettings { Server = Destination.FromEndPoint(upstream.EndPoint) });
        await using var server = ServerHarness.Start(dialer: dialer, logger: log);
        using var client = await Socks5TestClient.ConnectAsync(server.EndPoint);

        // Latin-1 names pass the codec byte for byte, C1 controls included; 0x9B is a CSI to some terminals.
        var name = Encoding.Latin1.GetString([(byte)'a', 0x9B, (byte)'2', (byte)'J', 0x85, (byte)'b', (byte)'.', (byte)'t', (byte)'e', (byte)'s', (byte)'t']);
        var reply = await Socks5TestClient.HandshakeAsync(client, Destination.FromHost(name, 80));

        Assert.Equal(Socks5ReplyCode.HostUnreachable, reply.Code);
        Assert.True(await Poll.UntilAsync(() => log.Entries.Any(e => e.Id.Id == 1021), Timeout), "no dial failure was logged");
        var line = log.Entries.Single(e => e.Id.Id == 1021).Message;
        Assert.Contains(@"-> a\x9B2J\x85b.test:80 via", line);
        Assert.DoesNotContain(line, c => c is >= '\u0080' and <= '\u009F');
    }
}
