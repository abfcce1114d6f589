using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

[Trait("Category", "Unit")]
public class SnifferTests
{
    [Fact]
    public void Sniff_NothingYet_NeedsMoreDataOfNoProtocol()
    {
        var result = Sniffer.Sniff([]);

        Assert.True(result.NeedsMoreData);
        Assert.Equal(SniffedProtocol.None, result.Protocol);
        Assert.Equal(1, result.Needed);
    }

    [Fact]
    public void Sniff_ClientHello_IsTls()
    {
        var result = Sniffer.Sniff(Captures.Read("openssl-tls13-sni.test.bin"));

        Assert.Equal((SniffStatus.Found, SniffedProtocol.Tls, "sni.test"), (result.Status, result.Protocol, result.Name));
    }

    [Fact]
    public void Sniff_HttpRequest_IsHttp()
    {
        var result = Sniffer.Sniff("GET / HTTP/1.1\r\nHost: sniffer.example\r\n\r\n"u8);

        Assert.Equal((SniffStatus.Found, SniffedProtocol.Http, "sniffer.example"), (result.Status, result.Protocol, result.Name));
    }

    [Theory]
    [InlineData(new byte[] { 0x16 }, SniffedProtocol.Tls)]
    [InlineData(new byte[] { (byte)'G' }, SniffedProtocol.Http)]
    public void Sniff_FirstByte_SaysWhichProtocolIsAwaited(byte[] input, SniffedProtocol protocol)
        => Assert.Equal(protocol, Sniffer.Sniff(input).Protocol);

    [Theory]
    [InlineData(new byte[] { 0x00 })]
    [InlineData(new byte[] { 0x05, 0x01, 0x00 })]
    [InlineData(new byte[] { 0x80, 0x2e, 0x01 })]
    public void Sniff_NeitherTlsNorHttp_IsNotThisProtocolAtOnce(byte[] input)
        => Assert.True(Sniffer.Sniff(input).IsNotThisProtocol);
}
