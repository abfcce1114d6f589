using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

/// <summary>The control API and the CLI spell protocols and policies exactly as the config file does.</summary>
[Trait("Category", "Unit")]
public sealed class OptionNamesTests
{
    [Fact]
    public void Names_AreTheConfigFilesSpellingInDeclarationOrder()
    {
        Assert.Equal(["socks5", "http"], OptionNames.ProtocolNames);
        Assert.Equal(["failover", "round-robin", "least-connections", "hash"], OptionNames.PolicyNames);
    }

    [Theory]
    [InlineData(GroupPolicyKind.Failover)]
    [InlineData(GroupPolicyKind.RoundRobin)]
    [InlineData(GroupPolicyKind.LeastConnections)]
    [InlineData(GroupPolicyKind.Hash)]
    public void PolicyName_ParsesBackAndIsWhatTheConfigFileSays(GroupPolicyKind policy)
    {
        var name = OptionNames.Of(policy);

        Assert.Equal(policy, OptionNames.ParsePolicy(name));
        var json = $$"""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1" } ], "groups": [ { "name": "g", "policy": "{{name}}", "members": [ "a" ] } ] }""";
        var result = ConfigLoader.Parse(json, null);
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(policy, result.Options.Groups[0].Policy);
    }

    [Theory]
    [InlineData(UpstreamProtocol.Socks5)]
    [InlineData(UpstreamProtocol.Http)]
    public void ProtocolName_ParsesBackAndIsWhatTheConfigFileWrites(UpstreamProtocol protocol)
    {
        var name = OptionNames.Of(protocol);

        Assert.Equal(protocol, OptionNames.ParseProtocol(name));
        var options = new TransparentSocksOptions { Upstreams = [new UpstreamOptions { Name = "a", Address = "127.0.0.1:1", Protocol = protocol }] };
        Assert.Contains($"\"protocol\": \"{name}\"", ConfigLoader.Serialize(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ROUND-ROBIN", GroupPolicyKind.RoundRobin)]
    [InlineData("Hash", GroupPolicyKind.Hash)]
    public void ParsePolicy_AnyCase_IsReadLikeTheConfigFile(string text, GroupPolicyKind expected)
        => Assert.Equal(expected, OptionNames.ParsePolicy(text));

    [Theory]
    [InlineData("roundrobin")]
    [InlineData("round_robin")]
    [InlineData("1")]
    [InlineData("")]
    [InlineData(null)]
    public void ParsePolicy_NotAName_IsNull(string? text) => Assert.Null(OptionNames.ParsePolicy(text));

    [Theory]
    [InlineData("socks4")]
    [InlineData("https")]
    [InlineData(null)]
    public void ParseProtocol_NotAName_IsNull(string? text) => Assert.Null(OptionNames.ParseProtocol(text));
}
