using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Http;

namespace TransparentSocks.Core.Tests.Http;

[Trait("Category", "Unit")]
public sealed class HttpConnectCodecTests
{
    private static string Request(Destination destination, string? user = null, string? password = null)
    {
        var buffer = new byte[HttpConnectCodec.MaxRequestLength(user?.Length ?? 0, password?.Length ?? 0)];
        var n = HttpConnectCodec.WriteRequest(buffer, destination, Encoding.UTF8.GetBytes(user ?? ""), Encoding.UTF8.GetBytes(password ?? ""));
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    [Fact]
    public void WriteRequest_Address_IsAConnectWithItsHost()
        => Assert.Equal("CONNECT 203.0.113.2:443 HTTP/1.1\r\nHost: 203.0.113.2:443\r\n\r\n", Request(Destination.FromAddress(IPAddress.Parse("203.0.113.2"), 443)));

    [Fact]
    public void WriteRequest_IPv6AndMappedAddresses_AreBracketedOrUnmapped()
    {
        Assert.StartsWith("CONNECT [2001:db8::2]:80 HTTP/1.1\r\n", Request(Destination.FromAddress(IPAddress.Parse("2001:db8::2"), 80)), StringComparison.Ordinal);
        Assert.StartsWith("CONNECT 198.51.100.7:80 HTTP/1.1\r\n", Request(Destination.FromAddress(IPAddress.Parse("::ffff:198.51.100.7"), 80)), StringComparison.Ordinal);
    }

    [Fact]
    public void WriteRequest_WithCredentials_AddsBasicProxyAuthorization()
        => Assert.Equal(
            "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\nProxy-Authorization: Basic Z3c6cyNjcmV0\r\n\r\n",
            Request(Destination.FromHost("example.test", 443), "gw", "s#cret"));

    [Theory]
    [InlineData("evil\r\nX-Injected: 1")]
    [InlineData("sp ace")]
    public void WriteRequest_NameThatWouldAddHeaders_IsRefused(string host)
        => Assert.Throws<ArgumentException>(() => Request(Destination.FromHost(host, 80)));

    [Theory]
    [InlineData("HTTP/1.1 200 Connection established\r\n\r\n", 200)]
    [InlineData("HTTP/1.0 200\r\nProxy-Agent: tinyproxy\r\n\r\n", 200)]
    [InlineData("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n", 407)]
    [InlineData("HTTP/1.1 502 Bad Gateway\r\n\r\n", 502)]
    public void ParseResponse_WholeHead_GivesTheStatusAndTheHeadLength(string head, int status)
    {
        var bytes = Encoding.ASCII.GetBytes(head + "tunnel bytes");
        var parsed = HttpConnectCodec.ParseResponse(bytes);
        Assert.Equal(HttpConnectStatus.Done, parsed.Status);
        Assert.Equal(status, parsed.Response.Status);
        Assert.Equal(head.Length, parsed.Response.HeadLength);
    }

    [Fact]
    public void ParseResponse_EveryPrefixOfAHead_NeedsMoreData()
    {
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nVia: 1.1 p\r\n\r\n");
        for (var n = 0; n < head.Length; n++)
        {
            Assert.Equal(HttpConnectStatus.NeedMoreData, HttpConnectCodec.ParseResponse(head.AsSpan(0, n)).Status);
        }
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH\r\n\r\n")]
    [InlineData("\x05\x00")]
    [InlineData("HTTP/1.1 2x0 Odd\r\n\r\n")]
    [InlineData("HTTP/1.1 2000\r\n\r\n")]
    [InlineData("HTTP/1.1\r\n\r\n")]
    public void ParseResponse_NotAnHttpStatusLine_IsInvalid(string response)
        => Assert.Equal(HttpConnectStatus.Invalid, HttpConnectCodec.ParseResponse(Encoding.Latin1.GetBytes(response)).Status);

    [Fact]
    public void ParseResponse_EndlessHead_IsInvalidAtTheLimit()
    {
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\n" + new string('a', HttpConnectCodec.MaxHeadLength));
        Assert.Equal(HttpConnectStatus.Invalid, HttpConnectCodec.ParseResponse(head).Status);
    }

    /// <summary>
    /// A driver that reads more than a byte at a time can have a whole head longer than the limit in one buffer; it is
    /// as untrustworthy as one that never ends, however the bytes arrived.
    /// </summary>
    [Theory]
    [InlineData(HttpConnectCodec.MaxHeadLength - 20)]
    [InlineData(HttpConnectCodec.MaxHeadLength)]
    public void ParseResponse_WholeHeadLongerThanTheLimit_IsInvalid(int padding)
    {
        var head = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nX: " + new string('a', padding) + "\r\n\r\n");
        Assert.True(head.Length > HttpConnectCodec.MaxHeadLength);

        var result = HttpConnectCodec.ParseResponse(head);

        Assert.Equal(HttpConnectStatus.Invalid, result.Status);
        Assert.Contains("longer than", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseResponse_HeadOfExactlyTheLimit_IsDone()
    {
        var prefix = "HTTP/1.1 200 OK\r\nX: ";
        var head = Encoding.ASCII.GetBytes(prefix + new string('a', HttpConnectCodec.MaxHeadLength - prefix.Length - 4) + "\r\n\r\n");

        var result = HttpConnectCodec.ParseResponse(head);

        Assert.Equal(HttpConnectStatus.Done, result.Status);
        Assert.Equal(HttpConnectCodec.MaxHeadLength, result.Response.HeadLength);
    }

    /// <summary>Reading what NextReadLength says, a byte at a time off the wire, stops exactly at the head's end.</summary>
    [Theory]
    [InlineData("HTTP/1.1 200 Connection established\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nA: \r\r\n\rB\r\n\r\n")]
    public void NextReadLength_NeverReadsPastTheHead(string head)
    {
        var wire = Encoding.ASCII.GetBytes(head + "\r\n\r\nTUNNEL");
        var have = 0;
        while (HttpConnectCodec.ParseResponse(wire.AsSpan(0, have)).Status == HttpConnectStatus.NeedMoreData)
        {
            have += HttpConnectCodec.NextReadLength(wire.AsSpan(0, have));
            Assert.True(have <= head.Length, $"read {have} bytes of a {head.Length}-byte head");
        }

        Assert.Equal(head.Length, have);
    }
}
