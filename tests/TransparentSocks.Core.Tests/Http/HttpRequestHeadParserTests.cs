using System.Text;
using TransparentSocks.Http;

namespace TransparentSocks.Core.Tests.Http;

[Trait("Category", "Unit")]
public sealed class HttpRequestHeadParserTests
{
    private const int Max = 8192;

    // What Prometheus 2.x sends for a scrape, byte for byte but the host.
    private const string PrometheusScrape =
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.45.0\r\n"
        + "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
        + "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";

    private static HttpRequestParse Parse(string text) => HttpRequestHeadParser.Parse(Encoding.Latin1.GetBytes(text), Max);

    [Fact]
    public void Parse_PrometheusScrape_IsDoneWithMethodPathAndVersion()
    {
        var result = Parse(PrometheusScrape);

        Assert.Equal(HttpRequestStatus.Done, result.Status);
        Assert.Equal(new HttpRequestHead("GET", "/metrics", string.Empty, 1, PrometheusScrape.Length), result.Head);
        Assert.Null(result.Error);
    }

    [Fact]
    public void Parse_BytesAfterTheHead_AreNotPartOfIt()
    {
        const string head = "POST /x?a=1&b HTTP/1.0\r\nContent-Length: 4\r\n\r\n";

        var result = Parse(head + "BODY\r\n\r\n");

        Assert.Equal(HttpRequestStatus.Done, result.Status);
        Assert.Equal(new HttpRequestHead("POST", "/x", "a=1&b", 0, head.Length, ContentLength: 4), result.Head);
    }

    [Theory]
    [InlineData("Content-Length: 0", 0L)]
    [InlineData("content-length:17", 17L)]
    [InlineData("Content-Length: \t65536\t ", 65536L)]
    [InlineData("Content-Length: 12\r\nContent-Length: 12", 12L)]
    [InlineData("Content-Length: 999999999999999999", 999999999999999999L)]
    public void Parse_ContentLength_IsTheBodysLength(string header, long length)
    {
        var result = Parse($"POST /v1/reload HTTP/1.1\r\nHost: localhost\r\n{header}\r\n\r\n");

        Assert.Equal(HttpRequestStatus.Done, result.Status);
        Assert.Equal(length, result.Head.ContentLength);
        Assert.False(result.Head.HasTransferEncoding);
    }

    [Theory]
    [InlineData("Content-Length: -1", "not a number")]
    [InlineData("Content-Length: +5", "not a number")]
    [InlineData("Content-Length: 5, 5", "not a number")]
    [InlineData("Content-Length: 0x10", "not a number")]
    [InlineData("Content-Length:", "not a number")]
    [InlineData("Content-Length: 1000000000000000000", "not a number")]
    [InlineData("Content-Length: 5\r\nContent-Length: 6", "two different")]
    public void Parse_ContentLengthThatFramesNothingOrTwoThings_IsInvalid(string header, string fault)
    {
        var result = Parse($"POST /v1/reload HTTP/1.1\r\n{header}\r\n\r\n");

        Assert.Equal(HttpRequestStatus.Invalid, result.Status);
        Assert.Contains(fault, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TransferEncoding_IsReportedNotRead()
    {
        var result = Parse("POST /v1/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");

        Assert.Equal(HttpRequestStatus.Done, result.Status);
        Assert.True(result.Head.HasTransferEncoding);
        Assert.Equal(0, result.Head.ContentLength);
    }

    [Fact]
    public void Parse_NoHeaders_IsDone()
        => Assert.Equal(new HttpRequestHead("HEAD", "/metrics", string.Empty, 1, 26), Parse("HEAD /metrics HTTP/1.1\r\n\r\n").Head);

    [Fact]
    public void Parse_EveryStrictPrefixOfAValidHead_NeedsMore()
    {
        for (var length = 0; length < PrometheusScrape.Length; length++)
        {
            var result = Parse(PrometheusScrape[..length]);
            Assert.True(result.Status == HttpRequestStatus.NeedMoreData, $"{length}: {result}");
        }
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.1\nHost: x\r\n\r\n", "CRLF")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\n\r\n", "CRLF")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "folding")]
    [InlineData("GET http://example.com/metrics HTTP/1.1\r\n\r\n", "absolute path")]
    [InlineData("GET * HTTP/1.1\r\n\r\n", "absolute path")]
    [InlineData("GET /metrics\r\n\r\n", "target")]
    [InlineData("GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.x")]
    [InlineData("GET /metrics HTTP/1.1 \r\n\r\n", "HTTP/1.x")]
    [InlineData("GET  /metrics HTTP/1.1\r\n\r\n", "target")]
    [InlineData(" GET /metrics HTTP/1.1\r\n\r\n", "method")]
    [InlineData("G(T /metrics HTTP/1.1\r\n\r\n", "method")]
    [InlineData("GET /met\u0001rics HTTP/1.1\r\n\r\n", "control")]
    [InlineData("GET /m\u00e9trics HTTP/1.1\r\n\r\n", "non-ASCII")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost x\r\n\r\n", "header name")]
    [InlineData("GET /metrics HTTP/1.1\r\nHo st: x\r\n\r\n", "header name")]
    [InlineData("GET /metrics HTTP/1.1\r\n: x\r\n\r\n", "header name")]
    [InlineData("GET /metrics HTTP/1.1\r\nHost: a\u0000b\r\n\r\n", "control byte")]
    [InlineData("GET /metrics HTTP/1.1\rHost: x\r\n\r\n", "HTTP/1.x")]
    public void Parse_Malformed_IsInvalidWithTheFault(string text, string fault)
    {
        var result = Parse(text);

        Assert.Equal(HttpRequestStatus.Invalid, result.Status);
        Assert.Contains(fault, result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003")] // a TLS ClientHello
    [InlineData("\u0005\u0001\u0000")] // a SOCKS5 greeting
    [InlineData("GET /metrics HTTP/1.1\nHost")] // a bare LF on an incomplete line
    [InlineData("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ")] // no method is that long
    [InlineData("GET /metrics HTTP/1.1\r\nHost: x\r\n\u0001")]
    public void Parse_GarbageBeforeAnyEnd_IsRefusedAtOnce(string text)
        => Assert.Equal(HttpRequestStatus.Invalid, Parse(text).Status);

    [Fact]
    public void Parse_NoEndWithinTheLimit_IsTooLarge()
    {
        var text = "GET /metrics HTTP/1.1\r\n" + string.Concat(Enumerable.Repeat("X-Pad: 0123456789012345678901234567890123456789\r\n", 200));

        var result = Parse(text);

        Assert.Equal(HttpRequestStatus.TooLarge, result.Status);
        Assert.Contains("8192", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AHeadThatEndsPastTheLimit_IsTooLarge()
    {
        var text = "GET /metrics HTTP/1.1\r\nX-Pad: " + new string('a', Max - 30) + "\r\n\r\n";

        Assert.True(text.Length > Max);
        Assert.Equal(HttpRequestStatus.TooLarge, Parse(text).Status);
    }
}
