using System.Net;
using TransparentSocks.Engine.Sessions;

namespace TransparentSocks.Engine.Tests.Sessions;

[Trait("Category", "Unit")]
public sealed class PackedEndPointTests
{
    [Theory]
    [InlineData("198.51.100.2", 40000)]
    [InlineData("0.0.0.0", 0)]
    [InlineData("255.255.255.255", 65535)]
    [InlineData("2001:db8::1", 443)]
    [InlineData("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 1)]
    [InlineData("::ffff:198.51.100.7", 8080)]
    [InlineData("::", 53)]
    public void Packed_GivesBackTheSameAddressFamilyAndPort(string address, int port)
    {
        var original = new IPEndPoint(IPAddress.Parse(address), port);
        var packed = new PackedEndPoint(original.Address, original.Port);

        Assert.True(packed.HasValue);
        Assert.Equal(original, packed.ToEndPoint());
        Assert.Equal(original.AddressFamily, packed.Address.AddressFamily);
    }

    [Fact]
    public void LinkLocalScope_IsKept()
    {
        var original = new IPEndPoint(IPAddress.Parse("fe80::1%7"), 1080);
        var packed = new PackedEndPoint(original.Address, original.Port);

        Assert.Equal(7, packed.Address.ScopeId);
        Assert.Equal(original, packed.ToEndPoint());
    }

    [Fact]
    public void Default_HasNoValue() => Assert.False(default(PackedEndPoint).HasValue);
}
