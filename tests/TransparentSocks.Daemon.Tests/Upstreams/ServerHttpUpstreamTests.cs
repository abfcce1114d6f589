using System.Net;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using static TransparentSocks.Daemon.Tests.Upstreams.UpstreamJson;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// Real tinyproxy as HTTP CONNECT members of the server's group: one open, one asking for Basic auth, each dialing
/// targets from its own loopback address (tinyproxy's Bind).
/// </summary>
[Trait("Category", "Integration")]
[Collection(UpstreamServerCollection.Name)]
public sealed class ServerHttpUpstreamTests
{
    private static readonly IPAddress OpenVia = IPAddress.Parse("127.0.0.21");
    private static readonly IPAddress AuthVia = IPAddress.Parse("127.0.0.22");

    [Fact]
    public async Task HttpUpstream_TinyproxyWithAndWithoutBasicAuth_CarriesTheServersConnections()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var open = await Tinyproxy.StartAsync(IPAddress.Loopback, bind: OpenVia);
        await using var guarded = await Tinyproxy.StartAsync(IPAddress.Loopback, "http-user", "http-s3cret", bind: AuthVia);
        var passwordFile = WritePasswordFile("http-s3cret\n");
        try
        {
            await using var daemon = await GroupDaemon.StartAsync(
                "web",
                [HttpConnect("open", open.EndPoint), HttpConnect("guarded", guarded.EndPoint, "http-user", passwordFile)],
                [Group("web", "round-robin", ["open", "guarded"], interval: 0.5, timeout: 1, target: target.EndPoint)]);

            var vias = new List<IPAddress?>();
            for (var i = 0; i < 10; i++)
            {
                using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
                Assert.True(hop.Reply == Socks5ReplyCode.Succeeded, $"{hop.Reply}\n{open.Log}\n{guarded.Log}\n{daemon.Log}");
                vias.Add(hop.Via);
            }

            Assert.Equal(5, vias.Count(v => Equals(v, OpenVia)));
            Assert.Equal(5, vias.Count(v => Equals(v, AuthVia)));

            // tinyproxy itself carried them (the checks' CONNECTs to the same target come on top), and never had to
            // refuse the guarded member's credentials.
            Assert.True(open.EstablishedConnections >= 5, open.Log);
            Assert.True(guarded.EstablishedConnections >= 5, guarded.Log);
            Assert.DoesNotContain("Unauthorized", guarded.Log, StringComparison.Ordinal);
            var web = await daemon.UpstreamAsync("web");
            Assert.All(web.Members!, m => Assert.True(m.State == "up" && m.CheckFailures == 0, GroupDaemon.Describe(m)));
            var upstreams = await daemon.UpstreamsAsync();
            Assert.Equal("http", upstreams.Single(u => u.Name == "guarded").Kind);
            Assert.True(upstreams.Single(u => u.Name == "guarded").HasPassword);
            Assert.DoesNotContain("http-s3cret", daemon.Log, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    /// <summary>
    /// tinyproxy 1.11.1 asks for credentials with 407 and refuses wrong ones with 401; both are the proxy refusing
    /// the credentials, so both members are down with reason auth (not target: the target is open and reachable).
    /// </summary>
    [Fact]
    public async Task HttpUpstream_WrongPasswordOrNoCredentials_IsDownWithReasonAuth()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var guarded = await Tinyproxy.StartAsync(IPAddress.Loopback, "http-user", "http-s3cret", bind: AuthVia);
        var wrongFile = WritePasswordFile("not-the-password\n");
        try
        {
            await using var daemon = await GroupDaemon.StartAsync(
                "web",
                [HttpConnect("wrong", guarded.EndPoint, "http-user", wrongFile), HttpConnect("none", guarded.EndPoint)],
                [Group("web", "failover", ["wrong", "none"], interval: 0.5, timeout: 1, target: target.EndPoint)]);

            var wrong = await daemon.WaitForMemberAsync("web", "wrong", m => m.State == "down", TimeSpan.FromSeconds(15));
            var none = await daemon.WaitForMemberAsync("web", "none", m => m.State == "down", TimeSpan.FromSeconds(15));

            Assert.True(wrong.Reason == "auth" && wrong.Failures["auth"] >= 2 && wrong.Failures["target"] == 0, GroupDaemon.Describe(wrong));
            Assert.True(none.Reason == "auth" && none.Failures["auth"] >= 2 && none.Failures["target"] == 0, GroupDaemon.Describe(none));
            Assert.Contains("407", none.Detail, StringComparison.Ordinal);
            Assert.Contains("401", wrong.Detail, StringComparison.Ordinal);
            Assert.Equal(0, guarded.EstablishedConnections);

            // A client of the server is refused, and the refusal is the upstream's auth failure.
            using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
            Assert.Equal(Socks5ReplyCode.GeneralFailure, hop.Reply);
            Assert.Empty(target.Clients);
            Assert.Equal(1, (await daemon.ServerInfoAsync()).Failures.GetValueOrDefault("upstream_auth_failed"));
        }
        finally
        {
            File.Delete(wrongFile);
        }
    }

    private static string WritePasswordFile(string content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"tsocks-http-{Guid.NewGuid():N}.pass");
        File.WriteAllText(path, content);
        return path;
    }
}
