using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

[Trait("Category", "Unit")]
public sealed class SniffOptionsTests
{
    private static TransparentSocksOptions AssertValid(ConfigResult result)
    {
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        return result.Options;
    }

    [Fact]
    public void Parse_EmptyObject_SniffsWithTheIssuesDefaults()
    {
        var transparent = AssertValid(ConfigLoader.Parse("{}", null)).Transparent;

        Assert.True(transparent.Sniff);
        Assert.Equal(TimeSpan.FromMilliseconds(300), transparent.SniffTimeout);
        Assert.Equal([22, 25, 110, 143, 587], transparent.SniffSkipPorts);
        Assert.True(transparent.SniffOverride);
        Assert.Empty(transparent.BypassDomains);
    }

    [Fact]
    public void Parse_SniffKeys_ResolveValues()
    {
        const string json = """
            { "transparent": { "sniff": false, "sniffTimeout": 1.5, "sniffSkipPorts": [2222], "sniffOverride": false,
                               "bypassDomains": ["example.com", ".Example.ORG", "*.cn."] } }
            """;

        var transparent = AssertValid(ConfigLoader.Parse(json, null)).Transparent;

        Assert.False(transparent.Sniff);
        Assert.Equal(TimeSpan.FromSeconds(1.5), transparent.SniffTimeout);
        Assert.Equal([2222], transparent.SniffSkipPorts);
        Assert.False(transparent.SniffOverride);
        Assert.Equal(["example.com", ".Example.ORG", "*.cn."], transparent.BypassDomains);
    }

    [Fact]
    public void Serialize_SniffKeys_RoundTripThroughTheLoader()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.Sniff = false;
        options.Transparent.SniffTimeoutSeconds = 0.05;
        options.Transparent.SniffSkipPorts = [];
        options.Transparent.BypassDomains = ["lan.example"];

        var json = ConfigLoader.Serialize(options);
        var parsed = AssertValid(ConfigLoader.Parse(json, null)).Transparent;

        Assert.Contains("\"sniffTimeout\": 0.05", json, StringComparison.Ordinal);
        Assert.False(parsed.Sniff);
        Assert.Equal(0.05, parsed.SniffTimeoutSeconds);
        Assert.Empty(parsed.SniffSkipPorts);
        Assert.Equal(["lan.example"], parsed.BypassDomains);
    }

    [Theory]
    [InlineData("sniffTimeout", "0", "transparent.sniffTimeout: ")]
    [InlineData("sniffTimeout", "10.5", "transparent.sniffTimeout: ")]
    [InlineData("sniffTimeout", "0.0005", "transparent.sniffTimeout: ")]
    [InlineData("sniffSkipPorts", "[22, 0]", "transparent.sniffSkipPorts[1]: ")]
    [InlineData("sniffSkipPorts", "[65536]", "transparent.sniffSkipPorts[0]: ")]
    [InlineData("sniffSkipPorts", "null", "transparent.sniffSkipPorts: ")]
    [InlineData("bypassDomains", "[\"ok.example\", \"\"]", "transparent.bypassDomains[1]: ")]
    [InlineData("bypassDomains", "[\"192.0.2.1\"]", "transparent.bypassDomains[0]: ")]
    [InlineData("bypassDomains", "[\"bad_name.example\"]", "transparent.bypassDomains[0]: ")]
    [InlineData("bypassDomains", "[\"a..example\"]", "transparent.bypassDomains[0]: ")]
    [InlineData("bypassDomains", "null", "transparent.bypassDomains: ")]
    [InlineData("sniff", "\"yes\"", "transparent.sniff: ")]
    public void Parse_InvalidSniffValue_IsRefusedNamingTheField(string key, string value, string prefix)
    {
        var result = ConfigLoader.Parse($$"""{ "transparent": { "{{key}}": {{value}} } }""", null);

        Assert.False(result.IsValid);
        Assert.StartsWith(prefix, Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BypassDomainWithAnIpLiteral_SaysThatAddressesBelongInBypass()
    {
        var result = ConfigLoader.Parse("""{ "transparent": { "bypassDomains": ["2001:db8::1"] } }""", null);

        Assert.Contains("transparent.bypass takes addresses", Assert.Single(result.Errors), StringComparison.Ordinal);
    }
}
