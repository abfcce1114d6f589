using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

/// <summary>The sniffers run on every transparent connection's first bytes; the name is the only thing they may allocate.</summary>
[Trait("Category", "Unit")]
public class SnifferAllocationTests
{
    public static TheoryData<string, byte[], int> Inputs => new()
    {
        { "capture without name", Captures.Read("openssl-tls13-noservername.bin"), 0 },
        { "capture prefix", Captures.Read("curl-tls13-example.com.bin")[..300], 0 },
        { "capture", Captures.Read("curl-tls13-example.com.bin"), "example.com".Length },
        { "split hello", ClientHelloBuilder.WithServerName("split.example").BuildSplit(20, 20), "split.example".Length },
        { "ip literal sni", ClientHelloBuilder.WithServerName("192.0.2.1").Build(), 0 },
        { "garbage", [22, 3, 1, 0, 9, 2, 0, 0, 5], 0 },
        { "http", "GET / HTTP/1.1\r\nHost: Alloc.Example:80\r\n\r\n"u8.ToArray(), "alloc.example".Length },
        { "http without host", "GET / HTTP/1.0\r\n\r\n"u8.ToArray(), 0 },
        { "http prefix", "GET / HTTP/1.1\r\nHost: a"u8.ToArray(), 0 },
        { "not http", "SSH-2.0-OpenSSH\r\n"u8.ToArray(), 0 },
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Sniff_AllocatesNothingButTheName(string what, byte[] input, int nameLength)
    {
        _ = Sniffer.Sniff(input);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = Sniffer.Sniff(input);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(nameLength, result.Name?.Length ?? 0);

        // A string is its header, length and characters; 32 bytes cover the header and padding on 64-bit.
        var budget = nameLength == 0 ? 0 : 32 + (2 * nameLength);
        Assert.True(allocated <= budget, $"{what}: {allocated} bytes allocated, budget {budget}");
    }
}
