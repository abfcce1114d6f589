using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Inbound;
using TransparentSocks.Engine.Policy;

namespace TransparentSocks.Engine.Tests.Policy;

[Trait("Category", "Unit")]
public sealed class DestinationPolicyTests
{
    private static readonly DestinationPolicy Default = new(NetworkSet.DefaultDeniedDestinations, [new IPEndPoint(IPAddress.Parse("203.0.113.1"), 1080)]);

    [Theory]
    [InlineData("127.0.0.1", 80)]
    [InlineData("127.8.9.10", 443)]
    [InlineData("::1", 80)]
    [InlineData("::ffff:127.0.0.1", 80)]
    [InlineData("169.254.169.254", 80)]
    [InlineData("0.0.0.0", 80)]
    [InlineData("224.0.0.251", 5353)]
    [InlineData("fe80::1", 22)]
    [InlineData("203.0.113.1", 1080)]
    [InlineData("::ffff:203.0.113.1", 1080)]
    public void IsDenied_ReservedOrOwnEndpoint_IsTrue(string address, int port)
        => Assert.True(Default.IsDenied(IPAddress.Parse(address), port));

    [Theory]
    [InlineData("203.0.113.1", 1081)]
    [InlineData("198.51.100.7", 1080)]
    [InlineData("2001:db8::1", 443)]
    public void IsDenied_OrdinaryDestination_IsFalse(string address, int port)
        => Assert.False(Default.IsDenied(IPAddress.Parse(address), port));

    [Fact]
    public void IsDenied_WildcardListener_DeniesLoopbackOnItsPortOnly()
    {
        var policy = new DestinationPolicy(NetworkSet.Empty, [new IPEndPoint(IPAddress.Any, 1080)]);

        Assert.True(policy.IsDenied(IPAddress.Loopback, 1080));
        Assert.False(policy.IsDenied(IPAddress.Loopback, 8080));
    }

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("foo.localhost", true)]
    [InlineData("example.test", false)]
    public void IsDeniedName_LocalNamesWhereLoopbackIsDenied(string name, bool denied)
        => Assert.Equal(denied, Default.IsDeniedName(name, 80));

    [Fact]
    public void IsDeniedName_DenyListOff_AllowsLocalhost()
        => Assert.False(DestinationPolicy.AllowAll.IsDeniedName("localhost", 80));

    private const string HostsFile = """
        127.0.0.1   localhost
        127.0.1.1   gw.example.test gw   # Debian's line for the host's own name
        198.51.100.1 gw-lan.test
        203.0.113.9 printer.test
        169.254.169.254 metadata.test
        """;

    private static readonly HostIdentity Gateway = HostIdentity.Fixed(
        [IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Parse("198.51.100.1"), IPAddress.Parse("2001:db8::1")], ["gateway"], HostsFile);

    private static DestinationPolicy GatewayPolicy(bool denyList, IPEndPoint listener)
        => new(denyList ? NetworkSet.DefaultDeniedDestinations : NetworkSet.Empty, [listener], denyHostAddresses: denyList, Gateway);

    [Theory]
    [InlineData("198.51.100.1", 22)]
    [InlineData("::ffff:198.51.100.1", 8080)]
    [InlineData("2001:db8::1", 443)]
    public void IsDenied_HostsOwnAddressWithDefaults_IsTrue(string address, int port)
        => Assert.True(GatewayPolicy(denyList: true, new IPEndPoint(IPAddress.Loopback, 1080)).IsDenied(IPAddress.Parse(address), port));

    [Fact]
    public void IsDenied_HostsOwnAddressWithAllowPrivate_IsFalseButItsListenerStaysDenied()
    {
        var policy = GatewayPolicy(denyList: false, new IPEndPoint(IPAddress.Any, 1080));

        Assert.False(policy.IsDenied(IPAddress.Parse("198.51.100.1"), 22));
        Assert.True(policy.IsDenied(IPAddress.Parse("198.51.100.1"), 1080));
        Assert.True(policy.IsDenied(IPAddress.Parse("2001:db8::1"), 1080));
    }

    [Fact]
    public void IsDenied_OtherAddressWithDefaults_IsFalse()
        => Assert.False(GatewayPolicy(denyList: true, new IPEndPoint(IPAddress.Any, 1080)).IsDenied(IPAddress.Parse("198.51.100.2"), 1080));

    [Theory]
    [InlineData("gateway", 80)]
    [InlineData("GATEWAY.", 80)]
    [InlineData("_outbound", 80)]
    [InlineData("gw", 80)]
    [InlineData("gw.example.test", 443)]
    [InlineData("gw-lan.test", 22)]
    [InlineData("metadata.test", 80)]
    public void IsDeniedName_NameOfThisHostWithDefaults_IsTrue(string name, int port)
        => Assert.True(GatewayPolicy(denyList: true, new IPEndPoint(IPAddress.Loopback, 1080)).IsDeniedName(name, port));

    [Theory]
    [InlineData("printer.test")]
    [InlineData("example.test")]
    [InlineData("gateway.example.test")]
    public void IsDeniedName_OtherNameWithDefaults_IsFalse(string name)
        => Assert.False(GatewayPolicy(denyList: true, new IPEndPoint(IPAddress.Loopback, 1080)).IsDeniedName(name, 80));

    [Theory]
    [InlineData("gateway")]
    [InlineData("gw")]
    [InlineData("gw-lan.test")]
    public void IsDeniedName_NameOfThisHostWithAllowPrivate_IsDeniedOnTheListenersPortOnly(string name)
    {
        var policy = GatewayPolicy(denyList: false, new IPEndPoint(IPAddress.Parse("198.51.100.1"), 1080));

        Assert.True(policy.IsDeniedName(name, 1080));
        Assert.False(policy.IsDeniedName(name, 22));
    }

    [Fact]
    public void IsDenied_SharedIdentity_KnowsLoopbackAsAnAddressOfThisHost()
    {
        var policy = new DestinationPolicy(NetworkSet.Empty, [], denyHostAddresses: true);

        Assert.True(policy.IsDenied(IPAddress.Loopback, 80));
        Assert.True(HostIdentity.Shared.IsOwnAddress(IPAddress.Loopback));
    }
}

[Trait("Category", "Unit")]
public sealed class HostIdentityTests
{
    [Fact]
    public void ParseHosts_CommentsAndRepeatedNames_KeepsEveryAddressOfAName()
    {
        var hosts = HostIdentity.ParseHosts($"""
            # 192.0.2.1 commented.test
            192.0.2.2 a.test b.test
            2001:db8::2{"\t"}a.test # trailing comment
            not-an-address c.test
            192.0.2.3
            """);

        Assert.Equal([IPAddress.Parse("192.0.2.2"), IPAddress.Parse("2001:db8::2")], hosts["A.TEST"]);
        Assert.Equal([IPAddress.Parse("192.0.2.2")], hosts["b.test"]);
        Assert.False(hosts.ContainsKey("commented.test"));
        Assert.False(hosts.ContainsKey("c.test"));
        Assert.Equal(2, hosts.Count);
    }
}

[Trait("Category", "Unit")]
public sealed class UserTableTests
{
    private readonly UserTable _users = new([new("alice", "wonderland"), new("bob", "builder")]);

    [Fact]
    public void Verify_RightPassword_Succeeds()
    {
        Assert.True(_users.Verify("alice"u8, "wonderland"u8, out var user));
        Assert.Equal("alice", user);
    }

    [Theory]
    [InlineData("alice", "builder")]
    [InlineData("alice", "wonderland2")]
    [InlineData("alice", "wonderlan")]
    [InlineData("carol", "wonderland")]
    [InlineData("Alice", "wonderland")]
    public void Verify_WrongUserOrPassword_Fails(string user, string password)
        => Assert.False(_users.Verify(Encoding.UTF8.GetBytes(user), Encoding.UTF8.GetBytes(password), out _));
}
