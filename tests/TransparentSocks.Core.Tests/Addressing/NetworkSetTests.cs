using System.Net;
using TransparentSocks.Addressing;

namespace TransparentSocks.Core.Tests.Addressing;

[Trait("Category", "Unit")]
public class NetworkSetTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.254")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("169.254.169.254")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("255.255.255.255")]
    [InlineData("fe80::1")]
    [InlineData("ff02::1")]
    public void DefaultDeniedDestinations_LocalOrMulticast_AreDenied(string address)
        => Assert.True(NetworkSet.DefaultDeniedDestinations.Contains(IPAddress.Parse(address)));

    [Theory]
    [InlineData("203.0.113.5")]
    [InlineData("::ffff:203.0.113.5")]
    [InlineData("2001:db8::1")]
    [InlineData("10.0.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("1.1.1.1")]
    [InlineData("255.255.255.254")]
    public void DefaultDeniedDestinations_PublicOrPrivateLan_AreAllowed(string address)
        => Assert.False(NetworkSet.DefaultDeniedDestinations.Contains(IPAddress.Parse(address)));

    [Fact]
    public void Contains_EmptySet_ReturnsFalse()
    {
        Assert.True(NetworkSet.Empty.IsEmpty);
        Assert.False(NetworkSet.Empty.Contains(IPAddress.Loopback));
        Assert.False(NetworkSet.Empty.Contains(IPAddress.IPv6Loopback));
    }

    [Fact]
    public void Contains_MixedFamilies_MatchesEachFamily()
    {
        var set = new NetworkSet([IpNetwork.Parse("192.0.2.0/24"), IpNetwork.Parse("2001:db8:1::/48")]);

        Assert.True(set.Contains(IPAddress.Parse("192.0.2.200")));
        Assert.True(set.Contains(IPAddress.Parse("::ffff:192.0.2.200")));
        Assert.True(set.Contains(IPAddress.Parse("2001:db8:1:2::3")));
        Assert.False(set.Contains(IPAddress.Parse("192.0.3.1")));
        Assert.False(set.Contains(IPAddress.Parse("2001:db8:2::1")));
    }

    [Fact]
    public void Union_AddsNetworksAndDropsDuplicates()
    {
        var set = NetworkSet.DefaultDeniedDestinations.Union([IpNetwork.Parse("203.0.113.0/24"), IpNetwork.Parse("127.0.0.0/8")]);

        Assert.Equal(NetworkSet.DefaultDeniedDestinations.Count + 1, set.Count);
        Assert.True(set.Contains(IPAddress.Parse("203.0.113.5")));
        Assert.True(set.Contains(IPAddress.Loopback));
        Assert.False(NetworkSet.DefaultDeniedDestinations.Contains(IPAddress.Parse("203.0.113.5")));
    }

    [Fact]
    public void Contains_DefaultSet_DoesNotAllocate()
    {
        var set = NetworkSet.DefaultDeniedDestinations;
        IPAddress[] addresses = [IPAddress.Parse("203.0.113.5"), IPAddress.Parse("::ffff:127.0.0.1"), IPAddress.Parse("2001:db8::1")];
        foreach (var address in addresses)
        {
            set.Contains(address);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var hits = 0;
        for (var i = 0; i < 1000; i++)
        {
            foreach (var address in addresses)
            {
                hits += set.Contains(address) ? 1 : 0;
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1000, hits);
    }

    [Fact]
    public void ToString_ListsNetworks()
        => Assert.Equal("10.0.0.0/8, ::1/128", new NetworkSet([IpNetwork.Parse("10.0.0.0/8"), IpNetwork.Parse("::1")]).ToString());
}
