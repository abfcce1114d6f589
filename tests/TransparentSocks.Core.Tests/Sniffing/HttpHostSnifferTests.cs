using System.Text;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

[Trait("Category", "Unit")]
public class HttpHostSnifferTests
{
    /// <summary>Requests and the name each should yield (null: Found without a name).</summary>
    public static TheoryData<string, string?> Requests => new()
    {
        { "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com" },
        { "GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: curl/8.0\r\nhOsT:   Example.COM  \r\nAccept: */*\r\n\r\n", "example.com" },
        { "POST /submit HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Length: 3\r\n\r\n", "api.example.com" },
        { "HEAD / HTTP/1.0\r\n\r\n", null },
        { "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", null },
        { "GET http://proxy.example/path HTTP/1.1\r\nHost: ignored.example\r\n\r\n", "proxy.example" },
        { "GET http://user:pw@auth.example:81?x HTTP/1.1\r\n\r\n", "auth.example" },
        { "CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n", "tunnel.example" },
        { "OPTIONS * HTTP/1.1\r\nHost: star.example\r\n\r\n", "star.example" },
        { "PROPFIND /dav HTTP/1.1\r\nHost: dav.example.\r\nDepth: 1\r\n\r\n", "dav.example" },
        { "GET / HTTP/1.1\r\nHost:\r\n\r\n", null },
        { "GET a?b=http://evil.example/ HTTP/1.1\r\nHost: real.example\r\n\r\n", "real.example" },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void Sniff_Request_FindsItsHost(string request, string? expected)
    {
        var result = HttpHostSniffer.Sniff(Encoding.ASCII.GetBytes(request));

        Assert.Equal(SniffStatus.Found, result.Status);
        Assert.Equal(SniffedProtocol.Http, result.Protocol);
        Assert.Equal(expected, result.Name);
        Assert.Equal(expected is null ? SniffedNameError.Missing : SniffedNameError.None, result.NameError);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public void Sniff_EveryProperPrefixOfRequest_NeedsMoreDataNeverPastTheEnd(string request, string? expected)
    {
        _ = expected;
        var bytes = Encoding.ASCII.GetBytes(request);
        for (var length = 0; length < bytes.Length; length++)
        {
            var result = HttpHostSniffer.Sniff(bytes.AsSpan(0, length));

            Assert.True(result.NeedsMoreData, $"prefix of {length}/{bytes.Length} bytes gave {result}");
            Assert.InRange(result.Needed, 1, bytes.Length - length);
        }
    }

    [Fact]
    public void Sniff_BodyAfterTheHead_IsLeftAlone()
    {
        var result = HttpHostSniffer.Sniff("POST / HTTP/1.1\r\nHost: body.example\r\nContent-Length: 9\r\n\r\n\r\n\r\nHost: x"u8);

        Assert.Equal("body.example", result.Name);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n")]
    [InlineData("GET http://[2001:db8::2]/ HTTP/1.1\r\n\r\n")]
    public void Sniff_HostThatIsAnIpLiteral_IsFoundWithNoName(string request)
    {
        var result = HttpHostSniffer.Sniff(Encoding.ASCII.GetBytes(request));

        Assert.True(result.IsFound);
        Assert.Null(result.Name);
        Assert.Equal(SniffedNameError.IpLiteral, result.NameError);
    }

    [Theory]
    [InlineData("\x16\x03\x01")]
    [InlineData(" GET / HTTP/1.1")]
    [InlineData("GET\t/")]
    [InlineData("GE(")]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n")]
    [InlineData("GET  / HTTP/1.1")]
    [InlineData("GET / HTTP/2")]
    [InlineData("GET / HTTP/1.12")]
    [InlineData("GET / HTTP/1.x")]
    [InlineData("GET / http/1.1")]
    [InlineData("GET /\r\n")]
    [InlineData("GET / HTTP/1.1 \r\n")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]
    [InlineData("EHLO mail.example\r\n")]
    [InlineData("AVERYLONGMETHODNAMEOFTWENTYFIVE / HTTP/1.1")]
    public void Sniff_BytesThatCannotStartAnHttpRequest_AreNotThisProtocolAtOnce(string input)
        => Assert.True(HttpHostSniffer.Sniff(Encoding.Latin1.GetBytes(input)).IsNotThisProtocol);

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost : a.example\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nX-Long: a\r\n folded\r\nHost: a.example\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: a.example\nX: y\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nNoColon\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\n: empty-name\r\n\r\n")]
    public void Sniff_HeadAServerWouldRefuse_IsNotThisProtocol(string request)
        => Assert.True(HttpHostSniffer.Sniff(Encoding.ASCII.GetBytes(request)).IsNotThisProtocol);

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\x00\x01")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n folded")]
    [InlineData("GET / HTTP/1.1\r\nHost : a")]
    [InlineData("GET / HTTP/1.1\r\n:")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\nb")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\r")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n")]
    public void Sniff_UnfinishedHeadWithAHeaderThatCannotBe_IsNotThisProtocolAtOnce(string input)
        => Assert.True(HttpHostSniffer.Sniff(Encoding.Latin1.GetBytes(input)).IsNotThisProtocol);

    [Fact]
    public void Sniff_HeadLongerThanTheCap_IsNotThisProtocol()
    {
        var head = "GET / HTTP/1.1\r\nX-Filler: " + new string('a', HttpHostSniffer.MaxHeadLength) + "\r\nHost: late.example\r\n\r\n";
        var bytes = Encoding.ASCII.GetBytes(head);

        Assert.True(HttpHostSniffer.Sniff(bytes).IsNotThisProtocol);
        Assert.True(HttpHostSniffer.Sniff(bytes.AsSpan(0, HttpHostSniffer.MaxHeadLength)).IsNotThisProtocol);
        Assert.True(HttpHostSniffer.Sniff(bytes.AsSpan(0, HttpHostSniffer.MaxHeadLength - 1)).NeedsMoreData);
    }

    [Fact]
    public void Sniff_HeadOfExactlyTheCap_IsRead()
    {
        const string Start = "GET / HTTP/1.1\r\nHost: cap.example\r\nX-Filler: ";
        var head = Start + new string('a', HttpHostSniffer.MaxHeadLength - Start.Length - 4) + "\r\n\r\n";

        Assert.Equal(HttpHostSniffer.MaxHeadLength, head.Length);
        Assert.Equal("cap.example", HttpHostSniffer.Sniff(Encoding.ASCII.GetBytes(head)).Name);
    }
}
