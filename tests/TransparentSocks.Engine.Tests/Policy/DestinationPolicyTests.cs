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
