using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;

namespace TransparentSocks.Core.Tests.Addressing;

[Trait("Category", "Unit")]
public class IpNetworkTests
{
    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8", 8)]
    [InlineData("2001:db8::/32", "2001:db8::/32", 32)]
    [InlineData("192.0.2.1", "192.0.2.1/32", 32)]
    [InlineData("2001:db8::1", "2001:db8::1/128", 128)]
    [InlineData("0.0.0.0/0", "0.0.0.0/0", 0)]
    [InlineData("::/0", "::/0", 0)]
    [InlineData("::ffff:10.0.0.0/104", "10.0.0.0/8", 8)]
    [InlineData("::ffff:192.0.2.7", "192.0.2.7/32", 32)]
    public void TryParse_ValidCidr_RoundTripsThroughToString(string text, string expected, int prefix)
    {
        Assert.True(IpNetwork.TryParse(text, out var network, out var error), error);
        Assert.Null(error);
        Assert.Equal(expected, network.ToString());
        Assert.Equal(prefix, network.PrefixLength);
    }

    [Fact]
    public void TryParse_BareAddress_IsSingleHost()
    {
        var v4 = IpNetwork.Parse("198.51.100.7");
        var v6 = IpNetwork.Parse("2001:db8::7");

        Assert.Equal(AddressFamily.InterNetwork, v4.AddressFamily);
        Assert.Equal(AddressFamily.InterNetworkV6, v6.AddressFamily);
        Assert.True(v4.Contains(IPAddress.Parse("198.51.100.7")));
        Assert.False(v4.Contains(IPAddress.Parse("198.51.100.8")));
        Assert.True(v6.Contains(IPAddress.Parse("2001:db8::7")));
        Assert.False(v6.Contains(IPAddress.Parse("2001:db8::8")));
    }

    [Theory]
    [InlineData("10.0.0.1/8", "did you mean 10.0.0.0/8?")]
    [InlineData("2001:db8::1/32", "did you mean 2001:db8::/32?")]
    [InlineData("192.168.1.1/24", "did you mean 192.168.1.0/24?")]
    public void TryParse_HostBitsSet_ReportsErrorWithSuggestion(string text, string suggestion)
    {
        Assert.False(IpNetwork.TryParse(text, out _, out var error));
        Assert.Contains("host bits", error, StringComparison.Ordinal);
        Assert.Contains(suggestion, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(null)]
    [InlineData("10.0.0.0/33")]
    [InlineData("::/129")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0.0/+8")]
    [InlineData("10.0.0.0/ 8")]
    [InlineData("10.0.0.0/8/8")]
    [InlineData("10")]
    [InlineData("10.1")]
    [InlineData("256.0.0.0/8")]
    [InlineData("example.com/8")]
    [InlineData("fe80::1%eth0")]
    [InlineData("::ffff:0:0/95")]
    public void TryParse_Malformed_ReturnsError(string? text)
    {
        Assert.False(IpNetwork.TryParse(text, out var network, out var error));
        Assert.False(string.IsNullOrEmpty(error));
        Assert.Equal(default, network);
    }

    [Fact]
    public void Parse_Malformed_ThrowsFormatException()
        => Assert.Throws<FormatException>(() => IpNetwork.Parse("10.0.0.1/8"));

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0", true)]
    [InlineData("10.0.0.0/8", "10.255.255.255", true)]
    [InlineData("10.0.0.0/8", "11.0.0.0", false)]
    [InlineData("10.0.0.0/8", "9.255.255.255", false)]
    [InlineData("0.0.0.0/0", "203.0.113.5", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("::/0", "2001:db8::1", true)]
    [InlineData("::/0", "203.0.113.5", false)]
    [InlineData("10.0.0.0/8", "::ffff:10.1.2.3", true)]
    [InlineData("10.0.0.0/8", "::ffff:11.1.2.3", false)]
    [InlineData("::/0", "::ffff:10.1.2.3", false)]
    [InlineData("::ffff:10.0.0.0/104", "10.1.2.3", true)]
    [InlineData("fe80::/10", "fe80::1%2", true)]
    public void Contains_Address_MatchesPrefix(string network, string address, bool expected)
        => Assert.Equal(expected, IpNetwork.Parse(network).Contains(IPAddress.Parse(address)));

    [Fact]
    public void Contains_MappedIPv4_DoesNotAllocate()
    {
        var network = IpNetwork.Parse("10.0.0.0/8");
        var mapped = IPAddress.Parse("::ffff:10.1.2.3");
        var v6 = IPAddress.Parse("2001:db8::1");
        network.Contains(mapped);
        network.Contains(v6);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var hits = 0;
        for (var i = 0; i < 1000; i++)
        {
            hits += network.Contains(mapped) ? 1 : 0;
            hits += network.Contains(v6) ? 1 : 0;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1000, hits);
    }

    [Fact]
    public void Equals_SameNetworkDifferentSpelling_AreEqual()
    {
        Assert.Equal(IpNetwork.Parse("10.0.0.0/8"), IpNetwork.Parse("::ffff:10.0.0.0/104"));
        Assert.True(IpNetwork.Parse("2001:db8::/32") == IpNetwork.Parse("2001:0db8:0000::/32"));
        Assert.NotEqual(IpNetwork.Parse("10.0.0.0/8"), IpNetwork.Parse("10.0.0.0/9"));
        Assert.NotEqual(IpNetwork.Parse("0.0.0.0/0"), IpNetwork.Parse("::/0"));
    }

    [Fact]
    public void BaseAddress_Network_IsFirstAddress()
    {
        Assert.Equal(IPAddress.Parse("192.168.0.0"), IpNetwork.Parse("192.168.0.0/16").BaseAddress);
        Assert.Equal(IPAddress.Parse("2001:db8::"), IpNetwork.Parse("2001:db8::/32").BaseAddress);
    }
}
