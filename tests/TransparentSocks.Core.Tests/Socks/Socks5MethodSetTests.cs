using TransparentSocks.Socks;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5MethodSetTests
{
    [Fact]
    public void Empty_ContainsNothing()
    {
        var set = Socks5MethodSet.Empty;

        Assert.True(set.IsEmpty);
        Assert.Equal(0, set.Count);
        Assert.All(Enumerable.Range(0, 256), b => Assert.False(set.Contains((Socks5AuthMethod)b)));
    }

    [Fact]
    public void With_EachByteValue_ContainsOnlyThatValue()
    {
        for (var value = 0; value < 256; value++)
        {
            var set = Socks5MethodSet.Empty.With((Socks5AuthMethod)value);

            Assert.Equal(1, set.Count);
            for (var other = 0; other < 256; other++)
            {
                Assert.Equal(other == value, set.Contains((Socks5AuthMethod)other));
            }
        }
    }

    [Fact]
    public void Create_AllByteValues_CountsAll()
    {
        var all = Enumerable.Range(0, 256).Select(i => (Socks5AuthMethod)i).ToArray();

        Assert.Equal(256, Socks5MethodSet.Create(all).Count);
    }

    [Fact]
    public void Equals_SameMembersInAnyOrder_AreEqual()
    {
        var a = Socks5MethodSet.Create([Socks5AuthMethod.UsernamePassword, Socks5AuthMethod.NoAuthentication]);
        var b = Socks5MethodSet.Create([Socks5AuthMethod.NoAuthentication, Socks5AuthMethod.UsernamePassword, Socks5AuthMethod.NoAuthentication]);

        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, a.With(Socks5AuthMethod.Gssapi));
    }

    [Fact]
    public void ToString_ListsMembers()
    {
        var set = Socks5MethodSet.Create([Socks5AuthMethod.UsernamePassword, Socks5AuthMethod.NoAuthentication]);

        Assert.Equal("{ NoAuthentication, UsernamePassword }", set.ToString());
    }
}
