using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using Xunit.Abstractions;
using static TransparentSocks.Daemon.Tests.Transparent.TransparentLab;

namespace TransparentSocks.Daemon.Tests.Transparent;

/// <summary>
/// Sniffing on the transparent path (issue 12): the name in a client's TLS ClientHello or HTTP Host header reaches the
/// upstream as a SOCKS5 domain CONNECT, under the timeout, skip-port, override and bypass-domain settings.
/// </summary>
/// <remarks>
/// How a test knows the upstream was given the name and not the address:
/// <list type="bullet">
/// <item>danted runs with its debug log, which writes each request as the client sent it
/// (<c>ATYP: 3 address: NAME.443</c>, or <c>ATYP: 1 address: 203.0.113.2.443</c> for an address).</item>
/// <item>The target ns has a second address, <see cref="TargetByName"/>, with a server of its own. The client resolves
/// the name to <see cref="GatewayLab.TargetV4"/> (curl --resolve) and connects there; only danted, resolving the name
/// through the gateway's own hosts file, goes to <see cref="TargetByName"/>. Which server answers says which was used.</item>
/// <item>danted dials out from its own address, <see cref="UpstreamSource"/>, not the gateway's primary
/// <see cref="GatewayLab.GatewayTargetSideV4"/>, which a direct dial from the daemon uses: the target's peer says
/// whether a connection went through the upstream or direct.</item>
/// </list>
/// </remarks>
[Trait("Category", "Integration")]
public sealed class TransparentSniffTests(ITestOutputHelper output)
{
    private const string Name = "www.sniffed.example";
    private const string BypassedName = "video.direct.example";
    private const string ByAddress = "by address\n";
    private const string ByName = "by name\n";
    private const double DefaultSniffTimeoutSeconds = 0.3;

    // Generous: the gateway ns forks danted workers and the machine may be busy building.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LogTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The target ns's second address: where the sniffed names resolve inside the gateway ns.</summary>
    private static readonly IPAddress TargetByName = IPAddress.Parse("203.0.113.3");

    /// <summary>The gateway's second address on its target-side veth, which danted dials out from.</summary>
    private static readonly IPAddress UpstreamSource = IPAddress.Parse("203.0.113.4");

    private static readonly Lazy<X509Certificate2> SharedCertificate = new(() => TlsHttpTarget.CreateCertificate(Name));

    [Theory]
    [InlineData("tproxy")]
    [InlineData("redirect")]
    public async Task Https_SniInTheClientHello_UpstreamGetsADomainConnectToTheNameAndTheHelloAsEarlyData(string mode)
    {
        await using var lab = await SniffLab.CreateAsync("tsn-tls");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var byName = lab.Target.CreateInside(() => new TlsHttpTarget(TargetByName, lab.Certificate, ByName, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, mode: mode));

        var result = await CurlHttpsAsync(lab, Name);

        Assert.True(result.ExitCode == 0, result.Error + lab.Describe(daemon));
        Assert.Equal(ByName, result.Output);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(Name, 443), LogTimeout), lab.Describe(daemon));
        var request = Assert.Single(byName.Requests);
        Assert.Equal(UpstreamSource, request.Client.Address);
        // The ClientHello the daemon read while sniffing reached the target intact, as the connection's first bytes.
        Assert.Equal(Name, request.ServerName);
        Assert.Empty(byAddress.Clients);
    }

    [Fact]
    public async Task Http_HostHeader_UpstreamGetsADomainConnectToTheNameAndTheRequestAsEarlyData()
    {
        await using var lab = await SniffLab.CreateAsync("tsn-http");
        await using var byAddress = lab.Target.CreateInside(() => new HttpTarget(lab.TargetV4, ByAddress, port: 80));
        await using var byName = lab.Target.CreateInside(() => new HttpTarget(TargetByName, ByName, port: 80));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab));

        var result = await lab.CurlFromClientAsync($"http://{Name}/sniffed", "--resolve", $"{Name}:80:{lab.TargetV4}");

        Assert.True(result.ExitCode == 0, result.Error + lab.Describe(daemon));
        Assert.Equal(ByName, result.Output);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(Name, 80), LogTimeout), lab.Describe(daemon));
        var request = Assert.Single(byName.Requests);
        Assert.Equal(UpstreamSource, request.Client.Address);
        Assert.Equal("/sniffed", request.Path);
        Assert.Contains($"\r\nHost: {Name}", request.Head, StringComparison.Ordinal);
        Assert.Empty(byAddress.Clients);
    }

    /// <summary>An IP literal or an over-long name in the Host header is not a name to send: the address is used.</summary>
    [Theory]
    [InlineData("ip-literal")]
    [InlineData("longer-than-255")]
    public async Task Http_HostThatIsNoValidHostname_UpstreamGetsTheOriginalAddress(string kind)
    {
        // The literal is the name-side address, so a daemon that sent it anyway would land on the other server.
        var host = kind == "ip-literal" ? TargetByName.ToString() : string.Join('.', Enumerable.Repeat(new string('a', 60), 5));
        await using var lab = await SniffLab.CreateAsync("tsn-bad");
        await using var byAddress = lab.Target.CreateInside(() => new HttpTarget(lab.TargetV4, ByAddress, port: 80));
        await using var byName = lab.Target.CreateInside(() => new HttpTarget(TargetByName, ByName, port: 80));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab));

        var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/", "-H", $"Host: {host}");

        Assert.True(result.ExitCode == 0, result.Error + lab.Describe(daemon));
        Assert.Equal(ByAddress, result.Output);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(lab.TargetV4.ToString(), 80), LogTimeout), lab.Describe(daemon));
        Assert.DoesNotContain("ATYP: 3", lab.Upstream.ReadLog(), StringComparison.Ordinal);
        Assert.Equal(UpstreamSource, Assert.Single(byAddress.Requests).Client.Address);
        Assert.Empty(byName.Clients);
    }

    [Fact]
    public async Task ServerFirstProtocol_ClientWaitsForTheBanner_BannerIsDelayedByAtMostTheSniffTimeoutAndTheSessionWorks()
    {
        const int port = 2525; // Not among the default sniffSkipPorts (25 is).
        await using var lab = await SniffLab.CreateAsync("tsn-bnr");
        await using var banner = lab.Target.CreateInside(() => new BannerTarget(lab.TargetV4, "220 banner first\r\n", port));
        // The defaults: sniff on, sniffTimeout 0.3 s.
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab));

        var (text, delay, echo) = await ServerFirstExchangeAsync(lab, new IPEndPoint(lab.TargetV4, port), banner.Banner);
        output.WriteLine($"banner after {delay.TotalMilliseconds:0} ms (sniffTimeout {DefaultSniffTimeoutSeconds} s)");

        Assert.Equal(banner.Banner, text);
        Assert.Equal("EHLO client\r\n", echo);
        Assert.True(delay <= TimeSpan.FromSeconds(DefaultSniffTimeoutSeconds) + Slack, $"banner after {delay.TotalMilliseconds:0} ms\n{lab.Describe(daemon)}");
        Assert.Equal(UpstreamSource, Assert.Single(banner.Clients).Address);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(lab.TargetV4.ToString(), port), LogTimeout), lab.Describe(daemon));
    }

    [Fact]
    public async Task ServerFirstProtocol_PortInSniffSkipPorts_IsDialedAtOnceWhileAnotherPortWaitsTheWholeTimeout()
    {
        const double sniffTimeout = 3;
        const int skipped = 2525;
        const int sniffed = 2626;
        await using var lab = await SniffLab.CreateAsync("tsn-skip");
        await using var skippedTarget = lab.Target.CreateInside(() => new BannerTarget(lab.TargetV4, "220 skipped\r\n", skipped));
        await using var sniffedTarget = lab.Target.CreateInside(() => new BannerTarget(lab.TargetV4, "220 sniffed\r\n", sniffed));
        var settings = $$""", "sniffTimeout": {{sniffTimeout}}, "sniffSkipPorts": [ {{skipped}} ]""";
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, settings));

        var fast = await ServerFirstExchangeAsync(lab, new IPEndPoint(lab.TargetV4, skipped), skippedTarget.Banner);
        var slow = await ServerFirstExchangeAsync(lab, new IPEndPoint(lab.TargetV4, sniffed), sniffedTarget.Banner);

        Assert.Equal(skippedTarget.Banner, fast.Banner);
        Assert.Equal(sniffedTarget.Banner, slow.Banner);
        Assert.Equal("EHLO client\r\n", fast.Echo);
        Assert.Equal("EHLO client\r\n", slow.Echo);
        var timings = $"skipped port: banner after {fast.Delay.TotalMilliseconds:0} ms, sniffed port: {slow.Delay.TotalMilliseconds:0} ms";
        output.WriteLine($"{timings} (sniffTimeout {sniffTimeout} s)");
        Assert.True(fast.Delay < TimeSpan.FromSeconds(1), timings + "\n" + lab.Describe(daemon));
        // The comparison run: the same silent client on a port that is sniffed waits out the timeout, and no more.
        Assert.True(slow.Delay >= TimeSpan.FromSeconds(sniffTimeout * 0.9), timings + "\n" + lab.Describe(daemon));
        Assert.True(slow.Delay <= TimeSpan.FromSeconds(sniffTimeout) + Slack, timings + "\n" + lab.Describe(daemon));
        Assert.Equal(UpstreamSource, Assert.Single(skippedTarget.Clients).Address);
        Assert.Equal(UpstreamSource, Assert.Single(sniffedTarget.Clients).Address);
    }

    [Theory]
    [InlineData("nas.lan")]
    [InlineData("printer.local")]
    [InlineData("app.internal")]
    [InlineData("intranet")]
    public async Task Https_SniThatIsSiteLocalOrSingleLabel_UpstreamGetsTheOriginalAddressButTheNameIsRecorded(string name)
    {
        await using var lab = await SniffLab.CreateAsync("tsn-loc");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab));

        // The upstream would resolve such a name on its own network (its search domains, its LAN, mDNS), reaching
        // what the address the client connected to never could.
        var result = await CurlHttpsAsync(lab, name);

        await AssertThroughTheUpstreamByAddressAsync(lab, daemon, result, byAddress, name);
        Assert.Contains($"names {name}, recorded;", daemon.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9000, 1)]
    [InlineData(600, 60)]
    public async Task ClientHello_LargerThanTheFirstBufferOrTrickledInPieces_IsStillSniffedAndForwardedWhole(int padding, int pieces)
    {
        await using var lab = await SniffLab.CreateAsync("tsn-big");
        await using var byName = lab.Target.CreateInside(() => new HashTarget(TargetByName, 0, seed: 0, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, """, "sniffTimeout": 5"""));
        var hello = ClientHello(Name, padding);

        // 9 KB does not fit the 4 KiB the sniff step starts with; 60 pieces 10 ms apart arrive as many segments.
        using var client = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 443));
        var piece = (hello.Length + pieces - 1) / pieces;
        for (var sent = 0; sent < hello.Length; sent += piece)
        {
            await client.SendAsync(hello.AsMemory(sent, Math.Min(piece, hello.Length - sent)));
            if (pieces > 1)
            {
                await Task.Delay(10);
            }
        }

        client.Shutdown(SocketShutdown.Send);
        Assert.True(await byName.WaitForCompletedConnectionsAsync(1, LogTimeout), lab.Describe(daemon));
        var received = Assert.Single(byName.Results);
        Assert.Equal(hello.Length, received.ReceivedBytes);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(hello)), received.ReceivedSha256);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(Name, 443), LogTimeout), lab.Describe(daemon));
    }

    /// <summary>A TLS 1.2-shaped ClientHello in one record: SNI <paramref name="name"/>, then a padding extension.</summary>
    private static byte[] ClientHello(string name, int padding)
    {
        var host = System.Text.Encoding.ASCII.GetBytes(name);
        var sni = new List<byte> { 0x00, 0x00 };
        sni.AddRange(U16(host.Length + 5));
        sni.AddRange(U16(host.Length + 3));
        sni.Add(0x00);
        sni.AddRange(U16(host.Length));
        sni.AddRange(host);
        var extensions = new List<byte>(sni) { 0x00, 0x15 };
        extensions.AddRange(U16(padding));
        extensions.AddRange(new byte[padding]);
        var body = new List<byte> { 0x03, 0x03 };
        body.AddRange(new byte[32]);
        body.Add(0x00);
        body.AddRange(new byte[] { 0x00, 0x02, 0x13, 0x01, 0x01, 0x00 });
        body.AddRange(U16(extensions.Count));
        body.AddRange(extensions);
        var handshake = new List<byte> { 0x01, 0x00 };
        handshake.AddRange(U16(body.Count));
        handshake.AddRange(body);
        var record = new List<byte> { 0x16, 0x03, 0x01 };
        record.AddRange(U16(handshake.Count));
        record.AddRange(handshake);
        return [.. record];

        static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];
    }

    [Fact]
    public async Task SniffOff_HttpsWithSni_UpstreamGetsTheOriginalAddress()
    {
        await using var lab = await SniffLab.CreateAsync("tsn-off");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var byName = lab.Target.CreateInside(() => new TlsHttpTarget(TargetByName, lab.Certificate, ByName, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, """, "sniff": false"""));

        var result = await CurlHttpsAsync(lab, Name);

        await AssertThroughTheUpstreamByAddressAsync(lab, daemon, result, byAddress, Name);
        Assert.Empty(byName.Clients);
        // Nothing was read for a name, so none appears anywhere in the daemon's (debug) log.
        Assert.DoesNotContain(Name, daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SniffOverrideOff_HttpsWithSni_UpstreamGetsTheOriginalAddressAndTheDaemonRecordsTheName()
    {
        await using var lab = await SniffLab.CreateAsync("tsn-ovr");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var byName = lab.Target.CreateInside(() => new TlsHttpTarget(TargetByName, lab.Certificate, ByName, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, """, "sniffOverride": false"""));

        var result = await CurlHttpsAsync(lab, Name);

        await AssertThroughTheUpstreamByAddressAsync(lab, daemon, result, byAddress, Name);
        Assert.Empty(byName.Clients);
        // The name is still sniffed and recorded: the session's debug line names it (the config does not mention it).
        Assert.True(await daemon.Process.WaitForTextAsync(Name, LogTimeout), lab.Describe(daemon));
    }

    [Fact]
    public async Task BypassDomains_MatchingName_GoesDirectFromTheGatewayToTheNameAsTheGatewayResolvesIt_NotToTheAddressTheClientChose()
    {
        await using var lab = await SniffLab.CreateAsync("tsn-byd");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var byName = lab.Target.CreateInside(() => new TlsHttpTarget(TargetByName, lab.Certificate, ByName, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab, """, "bypassDomains": [ "direct.example" ]"""));

        // The client connects to the first address with a listed name; the gateway's hosts file says the name is the
        // second. Going direct to the address would let any client leave through the gateway to any address by
        // sending a listed name, so the gateway dials the name itself.
        var bypassed = await CurlHttpsAsync(lab, BypassedName);
        // A name outside the list, for contrast: it still goes through the upstream, by name.
        var proxied = await CurlHttpsAsync(lab, Name);

        Assert.True(bypassed.ExitCode == 0, bypassed.Error + lab.Describe(daemon));
        Assert.True(proxied.ExitCode == 0, proxied.Error + lab.Describe(daemon));
        Assert.Equal(ByName, bypassed.Output);
        Assert.Equal(ByName, proxied.Output);
        Assert.Empty(byAddress.Requests);
        var requests = byName.Requests.ToList();
        Assert.Equal(2, requests.Count);

        // Dialed by the gateway itself (its primary address), not by danted (which dials from its own).
        var direct = Assert.Single(requests, r => r.ServerName == BypassedName);
        Assert.Equal(lab.GatewayTargetSideV4, direct.Client.Address);
        Assert.Equal(UpstreamSource, Assert.Single(requests, r => r.ServerName == Name).Client.Address);

        // danted logged the proxied request; the bypassed one, made before it, never reached it in any form.
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(Name, 443), LogTimeout), lab.Describe(daemon));
        var upstreamLog = lab.Upstream.ReadLog();
        Assert.DoesNotContain(BypassedName, upstreamLog, StringComparison.Ordinal);
        Assert.DoesNotContain(Dante.FormatLogRequest(lab.TargetV4.ToString(), 443), upstreamLog, StringComparison.Ordinal);
        Assert.Equal(1, Count(upstreamLog, "request received from client"));
    }

    [Fact]
    public async Task ClientClosesMidSniff_WithFinOrReset_TheNextClientIsStillServedByName()
    {
        await using var lab = await SniffLab.CreateAsync("tsn-cut");
        await using var byAddress = lab.Target.CreateInside(() => new TlsHttpTarget(lab.TargetV4, lab.Certificate, ByAddress, port: 443));
        await using var byName = lab.Target.CreateInside(() => new TlsHttpTarget(TargetByName, lab.Certificate, ByName, port: 443));
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, SniffConfig(lab));
        var destination = new IPEndPoint(lab.TargetV4, 443);

        // Clients that leave while the daemon is still reading for a name: half a ClientHello then FIN, or RST, or
        // nothing at all then FIN or RST, three rounds of each.
        for (var round = 0; round < 3; round++)
        {
            foreach (var (sendHalfHello, reset) in new[] { (true, false), (true, true), (false, false), (false, true) })
            {
                using var client = await lab.ConnectFromClientAsync(destination);
                if (sendHalfHello)
                {
                    await client.SendAsync(HalfClientHello());
                }

                if (reset)
                {
                    client.LingerState = new LingerOption(enable: true, seconds: 0);
                }

                client.Close();
            }
        }

        // One more stays connected mid-hello, and stays there while the next client is served.
        using var stalled = await lab.ConnectFromClientAsync(destination);
        await stalled.SendAsync(HalfClientHello());

        var result = await CurlHttpsAsync(lab, Name);

        Assert.True(result.ExitCode == 0, result.Error + lab.Describe(daemon));
        Assert.Equal(ByName, result.Output);
        Assert.Equal(UpstreamSource, Assert.Single(byName.Requests).Client.Address);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(Name, 443), LogTimeout), lab.Describe(daemon));
        Assert.False(daemon.Process.HasExited, lab.Describe(daemon));
        Assert.DoesNotContain("Unhandled exception", daemon.Log, StringComparison.Ordinal);
    }

    private static string SniffConfig(SniffLab lab, string sniffSettings = "", string mode = "tproxy") => $$"""
        {
          "upstream": { "address": "{{Format(lab.Upstream.EndPoint)}}", "connectTimeout": 2 },
          "transparent": { "enabled": true, "mode": "{{mode}}", "port": {{DivertPort}},
                           "interfaces": [ { "name": "{{lab.ClientInterface}}" } ] {{sniffSettings}} },
          "logging": { "level": "debug" }
        }
        """;

    /// <summary>
    /// The HTTPS request of <paramref name="result"/> reached the server on the first address, through danted (its
    /// source address), asked for by address (ATYP 1, never 3), with <paramref name="serverName"/> as its SNI.
    /// </summary>
    private static async Task AssertThroughTheUpstreamByAddressAsync(SniffLab lab, NamespacedDaemon daemon, ProcessResult result, TlsHttpTarget byAddress, string serverName)
    {
        Assert.True(result.ExitCode == 0, result.Error + lab.Describe(daemon));
        Assert.Equal(ByAddress, result.Output);
        Assert.True(await lab.Upstream.WaitForLogAsync(Dante.FormatLogRequest(lab.TargetV4.ToString(), 443), LogTimeout), lab.Describe(daemon));
        Assert.DoesNotContain("ATYP: 3", lab.Upstream.ReadLog(), StringComparison.Ordinal);
        var request = Assert.Single(byAddress.Requests);
        Assert.Equal(UpstreamSource, request.Client.Address);
        Assert.Equal(serverName, request.ServerName);
    }

    /// <summary><c>curl -k https://NAME/</c> from the client ns, which resolves NAME to the target's first address.</summary>
    private static Task<ProcessResult> CurlHttpsAsync(SniffLab lab, string name)
        => lab.CurlFromClientAsync($"https://{name}/", "-k", "--resolve", $"{name}:443:{lab.TargetV4}");

    /// <summary>
    /// Connects as a client of a server-first protocol would: says nothing, times the banner from the moment the
    /// connection is up, then checks that the session carries what the client says next.
    /// </summary>
    private static async Task<(string Banner, TimeSpan Delay, string Echo)> ServerFirstExchangeAsync(SniffLab lab, IPEndPoint destination, string expectedBanner)
    {
        using var client = await lab.ConnectFromClientAsync(destination);
        var clock = Stopwatch.StartNew();
        var banner = await Socks5TestClient.ReadExactlyAsync(client, Encoding.ASCII.GetByteCount(expectedBanner));
        var delay = clock.Elapsed;
        var hello = "EHLO client\r\n"u8.ToArray();
        await client.SendAsync(hello);
        var echo = await Socks5TestClient.ReadExactlyAsync(client, hello.Length);
        return (Encoding.ASCII.GetString(banner), delay, Encoding.ASCII.GetString(echo));
    }

    /// <summary>
    /// The first 44 bytes of a ClientHello: a handshake record announcing 512 bytes, the ClientHello header, the
    /// version and the random. A sniffer can only ask for more.
    /// </summary>
    private static byte[] HalfClientHello()
    {
        byte[] head = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
        return [.. head, .. Enumerable.Range(0, 32).Select(i => (byte)(i * 7)), 0x20];
    }

    /// <summary>
    /// The gateway lab as these tests need it: the target ns with its second address, the gateway with danted's own
    /// source address and a hosts file that resolves the test names to <see cref="TargetByName"/>, and danted
    /// (debug log on) as the upstream. Targets and the daemon are the test's; it disposes them first.
    /// </summary>
    private sealed class SniffLab : IAsyncDisposable
    {
        private SniffLab(GatewayLab lab, NamespaceHosts hosts, Dante upstream)
        {
            // Made here, never inside a CreateInside factory (a lazy first use there would run on its switched thread).
            Certificate = SharedCertificate.Value;
            Lab = lab;
            Hosts = hosts;
            Upstream = upstream;
        }

        public GatewayLab Lab { get; }

        public NamespaceHosts Hosts { get; }

        public Dante Upstream { get; }

        /// <summary>The self-signed certificate every TLS target serves (curl runs with -k).</summary>
        public X509Certificate2 Certificate { get; }

        public NetworkNamespace Gateway => Lab.Gateway;

        public NetworkNamespace Target => Lab.Target;

        public string ClientInterface => Lab.ClientInterface;

        public IPAddress TargetV4 => Lab.TargetV4;

        public IPAddress GatewayTargetSideV4 => Lab.GatewayTargetSideV4;

        public static async Task<SniffLab> CreateAsync(string prefix)
        {
            var lab = await GatewayLab.CreateAsync(prefix, async l =>
            {
                await l.Target.ExecOrThrowAsync("ip", "addr", "add", $"{TargetByName}/24", "dev", l.TargetSideInterface);
                await l.Gateway.ExecOrThrowAsync("ip", "addr", "add", $"{UpstreamSource}/24", "dev", l.TargetInterface);
            });
            NamespaceHosts? hosts = null;
            try
            {
                // Written before danted starts: ip netns exec mounts it at exec time.
                hosts = NamespaceHosts.Write(lab.Gateway, (Name, TargetByName), (BypassedName, TargetByName));
                var upstream = await Dante.StartAsync(
                    IPAddress.Loopback, requireAuth: false, external: UpstreamSource.ToString(), networkNamespace: lab.Gateway.Name, debug: true);
                return new SniffLab(lab, hosts, upstream);
            }
            catch
            {
                hosts?.Dispose();
                await lab.DisposeAsync();
                throw;
            }
        }

        public Task<ProcessResult> CurlFromClientAsync(string url, params string[] extraArgs) => Lab.CurlFromClientAsync(url, extraArgs);

        public Task<Socket> ConnectFromClientAsync(IPEndPoint destination) => Lab.ConnectFromClientAsync(destination);

        /// <summary>For assertion messages: the daemon's log and the request lines of danted's (its whole debug log is long).</summary>
        public string Describe(NamespacedDaemon daemon)
        {
            var requests = Upstream.ReadLog().Split('\n').Where(l => l.Contains("request received", StringComparison.Ordinal)
                || l.Contains("tcp/connect [", StringComparison.Ordinal)
                || l.Contains("tcp/connect ]", StringComparison.Ordinal)
                || l.Contains("warning:", StringComparison.Ordinal)
                || l.Contains("alert:", StringComparison.Ordinal));
            return $"\n--- daemon log ---\n{daemon.Log}\n--- danted requests ---\n{string.Join('\n', requests)}";
        }

        public async ValueTask DisposeAsync()
        {
            await Upstream.DisposeAsync();
            Hosts.Dispose();
            await Lab.DisposeAsync();
        }
    }
}
