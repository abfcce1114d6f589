using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

[Trait("Category", "Unit")]
public sealed class UpstreamGroupOptionsTests
{
    private static IReadOnlyList<string> Errors(string json) => ConfigLoader.Parse(json, null).Errors;

    [Fact]
    public void Parse_UpstreamsAndGroup_ResolveWithKebabPolicyAndHealthDefaults()
    {
        const string json = """
            {
              "upstreams": [
                { "name": "primary", "address": "127.0.0.1:2080" },
                { "name": "office", "address": "198.51.100.7:3128", "protocol": "http" }
              ],
              "groups": [ { "name": "main", "policy": "round-robin", "members": [ "primary", "office" ] } ],
              "server": { "outbound": "main" }
            }
            """;

        var result = ConfigLoader.Parse(json, null);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        Assert.Equal(UpstreamProtocol.Http, result.Options.Upstreams[1].Protocol);
        Assert.Equal(GroupPolicyKind.RoundRobin, result.Options.Groups[0].Policy);
        Assert.Equal(TimeSpan.FromSeconds(5), result.Options.Groups[0].HealthCheck.Interval);
        Assert.Contains("\"policy\": \"round-robin\"", ConfigLoader.Serialize(result.Options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1" }, { "name": "a", "address": "127.0.0.1:2" } ] }""", "upstreams[1].name: duplicate name 'a'")]
    [InlineData("""{ "upstreams": [ { "name": "direct", "address": "127.0.0.1:1" } ] }""", "upstreams[0].name: 'direct' is reserved")]
    [InlineData("""{ "upstreams": [ { "name": "a" } ] }""", "upstreams[0].address: required")]
    [InlineData("""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1", "mark": 7 } ] }""", "upstreams[0].mark:")]
    [InlineData("""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1", "protocol": "http", "pooling": true } ] }""", "upstreams[0].pooling:")]
    [InlineData("""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1", "protocol": "http", "pipelining": true } ] }""", "upstreams[0].pipelining: only SOCKS5")]
    [InlineData("""{ "upstream": { "address": "127.0.0.1:1", "protocol": "http", "pipelining": true } }""", "upstream.pipelining: only SOCKS5")]
    [InlineData("""{ "groups": [ { "name": "g", "members": [] } ] }""", "groups[0].members: a group needs at least one member")]
    [InlineData("""{ "groups": [ { "name": "g", "members": [ "nope" ] } ] }""", "groups[0].members[0]: 'nope' is not an upstream or a group")]
    [InlineData("""{ "groups": [ { "name": "g", "members": [ "h" ] }, { "name": "h", "members": [ "g" ] } ] }""", "makes a cycle: g -> h -> g")]
    [InlineData("""{ "server": { "outbound": "nope" } }""", "server.outbound: 'nope' is not")]
    [InlineData("""{ "transparent": { "interfaces": [ { "name": "eth1", "upstream": "nope" } ] } }""", "transparent.interfaces[0].upstream: 'nope' is not an upstream or a group")]
    [InlineData("""{ "upstreams": [ { "name": "a", "address": "127.0.0.1:1" } ], "groups": [ { "name": "g", "members": [ "a" ], "healthCheck": { "interval": 0.01 } } ] }""", "groups[0].healthCheck.interval:")]
    public void Parse_BadUpstreamOrGroup_IsRefusedNamingTheField(string json, string expected)
        => Assert.Contains(Errors(json), e => e.Contains(expected, StringComparison.Ordinal));

    [Fact]
    public void UsersOf_AnUpstreamInAGroupAndOnAnInterface_NamesEveryUser()
    {
        const string json = """
            {
              "upstreams": [ { "name": "a", "address": "127.0.0.1:1" } ],
              "groups": [ { "name": "g", "members": [ "a" ] } ],
              "transparent": { "interfaces": [ { "name": "eth1", "upstream": "a" } ] },
              "server": { "outbound": "a" }
            }
            """;
        var options = ConfigLoader.Parse(json, null).Options!;

        Assert.Equal(["server.outbound", "transparent.interfaces[0] (eth1)", "groups[0] (g)"], UpstreamNames.UsersOf(options, "a"));
    }
}
