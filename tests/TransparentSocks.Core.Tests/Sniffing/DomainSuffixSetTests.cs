using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

[Trait("Category", "Unit")]
public sealed class DomainSuffixSetTests
{
    private static readonly DomainSuffixSet Set = DomainSuffixSet.Parse(["example.com", ".Corp.Example.", "*.cn", "single"]);

    [Theory]
    [InlineData("example.com")]
    [InlineData("www.example.com")]
    [InlineData("a.b.c.example.com")]
    [InlineData("corp.example")]
    [InlineData("mail.corp.example")]
    [InlineData("cn")]
    [InlineData("baidu.cn")]
    [InlineData("single")]
    [InlineData("host.single")]
    public void Matches_TheDomainOrAnyNameUnderIt(string name) => Assert.True(Set.Matches(name));

    [Theory]
    [InlineData("badexample.com")]
    [InlineData("example.com.evil")]
    [InlineData("com")]
    [InlineData("example")]
    [InlineData("xcn")]
    [InlineData("example.org")]
    [InlineData("")]
    public void Matches_NotANameUnderAnyEntry_IsFalse(string name) => Assert.False(Set.Matches(name));

    [Fact]
    public void Empty_MatchesNothing()
    {
        Assert.False(DomainSuffixSet.Empty.Matches("example.com"));
        Assert.Same(DomainSuffixSet.Empty, DomainSuffixSet.Parse([]));
    }

    [Theory]
    [InlineData("Example.COM.", "example.com")]
    [InlineData(".example.com", "example.com")]
    [InlineData("*.example.com", "example.com")]
    public void TryNormalize_LeadingWildcardOrDotAndCase_AreTheSameEntry(string entry, string expected)
    {
        Assert.True(DomainSuffixSet.TryNormalize(entry, out var suffix, out var error), error);
        Assert.Equal(expected, suffix);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("*.")]
    [InlineData("exa mple.com")]
    [InlineData("-bad.example")]
    [InlineData("203.0.113.7")]
    [InlineData("[2001:db8::1]")]
    [InlineData("ex\nample.com")]
    public void TryNormalize_NotADomain_IsRefusedWithAReason(string? entry)
    {
        Assert.False(DomainSuffixSet.TryNormalize(entry, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void Parse_BadEntry_ThrowsFormatExceptionNamingIt()
        => Assert.Contains("'bad_name'", Assert.Throws<FormatException>(() => DomainSuffixSet.Parse(["ok.example", "bad_name"])).Message, StringComparison.Ordinal);

    [Fact]
    public void Matches_DoesNotAllocate()
    {
        var name = "deep.sub.domain.not-listed.example.net";
        Assert.False(Set.Matches(name));
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            _ = Set.Matches(name);
            _ = Set.Matches("www.example.com");
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
