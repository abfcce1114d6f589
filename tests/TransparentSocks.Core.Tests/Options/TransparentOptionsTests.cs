using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

[Trait("Category", "Unit")]
public class TransparentOptionsTests
{
    private static TransparentSocksOptions AssertValid(ConfigResult result)
    {
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        return result.Options;
    }

    private static void AssertErrorAt(ConfigResult result, string path)
    {
        Assert.False(result.IsValid);
        Assert.True(
            result.Errors.Any(e => e.StartsWith(path + ": ", StringComparison.Ordinal)),
            $"expected an error at '{path}', got:{Environment.NewLine}{string.Join(Environment.NewLine, result.Errors)}");
    }

    [Fact]
    public void Parse_EmptyObject_GivesTransparentDefaults()
    {
        var transparent = AssertValid(ConfigLoader.Parse("{}", null)).Transparent;

        Assert.False(transparent.Enabled);
        Assert.Equal(TransparentMode.Tproxy, transparent.Mode);
        Assert.Equal(12345, transparent.Port);
        Assert.True(transparent.IPv6);
        Assert.Equal(0x5453u, transparent.Fwmark);
        Assert.Equal(5453, transparent.RouteTable);
        Assert.Equal(5453, transparent.RulePriority);
        Assert.Empty(transparent.Bypass);
        Assert.True(transparent.BypassDefaults);
        Assert.Equal(TimeSpan.FromMinutes(5), transparent.IdleTimeout);
        Assert.Empty(transparent.Interfaces);
        Assert.Equal(TransparentOptions.DefaultBypassIPv4.Concat(TransparentOptions.DefaultBypassIPv6), transparent.BypassNetworks);
    }

    [Fact]
    public void Parse_FullSection_ResolvesValues()
    {
        const string json = """
            {
              "upstream": { "address": "127.0.0.1:2080" },
              "transparent": {
                "enabled": true,
                "mode": "redirect",
                "port": 4000,
                "ipv6": false,
                "fwmark": 7,
                "routeTable": 100,
                "rulePriority": 32765,
                "bypass": [ "203.0.113.0/24", "2001:db8::/32" ],
                "bypassDefaults": false,
                "idleTimeout": 0.5,
                "interfaces": [
                  { "name": "eth1" },
                  { "name": "wlan0", "proxy": "[2001:db8::2]:1080", "username": "u", "password": "p", "maxConnections": 10 }
                ]
              }
            }
            """;

        var transparent = AssertValid(ConfigLoader.Parse(json, null)).Transparent;

        Assert.True(transparent.Enabled);
        Assert.Equal(TransparentMode.Redirect, transparent.Mode);
        Assert.Equal(4000, transparent.Port);
        Assert.False(transparent.IPv6);
        Assert.Equal(7u, transparent.Fwmark);
        Assert.Equal(100, transparent.RouteTable);
        Assert.Equal(32765, transparent.RulePriority);
        Assert.Equal(TimeSpan.FromMilliseconds(500), transparent.IdleTimeout);
        Assert.Equal([IpNetwork.Parse("203.0.113.0/24"), IpNetwork.Parse("2001:db8::/32")], transparent.BypassNetworks);
        Assert.Null(transparent.Interfaces[0].ProxyEndpoint);
        Assert.Equal(0, transparent.Interfaces[0].MaxConnections);
        var wlan = transparent.Interfaces[1];
        Assert.Equal(IPAddress.Parse("2001:db8::2"), wlan.ProxyEndpoint!.Value.Address);
        Assert.Equal(1080, wlan.ProxyEndpoint!.Value.Port);
        Assert.Equal("p", wlan.EffectivePassword);
        Assert.Equal(10, wlan.MaxConnections);
    }

    [Fact]
    public void BypassNetworks_DefaultsOn_AppendsUserBypassToDefaults()
    {
        var transparent = AssertValid(ConfigLoader.Parse("""{ "transparent": { "bypass": [ "198.51.100.0/24" ] } }""", null)).Transparent;

        var expected = TransparentOptions.DefaultBypassIPv4.Concat(TransparentOptions.DefaultBypassIPv6).Append(IpNetwork.Parse("198.51.100.0/24"));
        Assert.Equal(expected, transparent.BypassNetworks);
    }

    [Theory]
    [InlineData("10.1.2.3")]
    [InlineData("100.100.0.1")]
    [InlineData("127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("224.0.0.251")]
    [InlineData("255.255.255.255")]
    [InlineData("0.1.2.3")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("64:ff9b:1::1")]
    [InlineData("100::1")]
    [InlineData("fd00::1")]
    [InlineData("fe80::1")]
    [InlineData("ff02::1")]
    public void DefaultBypass_ReservedAddress_IsCovered(string address)
        => Assert.Contains(
            TransparentOptions.DefaultBypassIPv4.Concat(TransparentOptions.DefaultBypassIPv6),
            n => n.Contains(IPAddress.Parse(address)));

    // The documentation ranges stand in for the Internet in labs, so they must be diverted; so must real public
    // addresses, including IPv4 written in mapped form and well-known NAT64.
    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("198.51.100.1")]
    [InlineData("198.19.0.1")]
    [InlineData("203.0.113.1")]
    [InlineData("2001:db8::1")]
    [InlineData("1.1.1.1")]
    [InlineData("::ffff:1.1.1.1")]
    [InlineData("64:ff9b::101:101")]
    [InlineData("2606:4700::1111")]
    public void DefaultBypass_PublicOrDocumentationAddress_IsNotCovered(string address)
        => Assert.DoesNotContain(
            TransparentOptions.DefaultBypassIPv4.Concat(TransparentOptions.DefaultBypassIPv6),
            n => n.Contains(IPAddress.Parse(address)));

    [Fact]
    public void DefaultBypass_Lists_HoldOnlyTheirFamily()
    {
        Assert.All(TransparentOptions.DefaultBypassIPv4, n => Assert.Equal(System.Net.Sockets.AddressFamily.InterNetwork, n.AddressFamily));
        Assert.All(TransparentOptions.DefaultBypassIPv6, n => Assert.Equal(System.Net.Sockets.AddressFamily.InterNetworkV6, n.AddressFamily));
    }

    [Fact]
    public void DefaultBypass_Lists_CannotBeModifiedThroughACast()
    {
        Assert.IsNotType<IpNetwork[]>(TransparentOptions.DefaultBypassIPv4);
        Assert.IsNotType<IpNetwork[]>(TransparentOptions.DefaultBypassIPv6);
    }

    [Fact]
    public void IpNetwork_MappedPrefix_IsReadAsIPv4AllAddresses()
        => Assert.Equal(IpNetwork.Parse("0.0.0.0/0"), IpNetwork.Parse("::ffff:0:0/96"));

    [Theory]
    [InlineData("\"0x5453\"", 0x5453u)]
    [InlineData("\"0xFFFFFFFF\"", 0xFFFFFFFFu)]
    [InlineData("21587", 0x5453u)]
    [InlineData("\"1\"", 1u)]
    public void Parse_Fwmark_AcceptsNumberOrHexString(string fwmark, uint expected)
        => Assert.Equal(expected, AssertValid(ConfigLoader.Parse($$"""{ "transparent": { "fwmark": {{fwmark}} } }""", null)).Transparent.Fwmark);

    public static TheoryData<string, string> InvalidFields => new()
    {
        { """{ "transparent": { "enabled": 1 } }""", "transparent.enabled" },
        { """{ "transparent": { "mode": "nat" } }""", "transparent.mode" },
        { """{ "transparent": { "mode": 0 } }""", "transparent.mode" },
        { """{ "transparent": { "port": 0 } }""", "transparent.port" },
        { """{ "transparent": { "port": 65536 } }""", "transparent.port" },
        { """{ "transparent": { "ipv6": "yes" } }""", "transparent.ipv6" },
        { """{ "transparent": { "fwmark": 0 } }""", "transparent.fwmark" },
        { """{ "transparent": { "fwmark": "0x0" } }""", "transparent.fwmark" },
        { """{ "transparent": { "fwmark": "0xZZ" } }""", "transparent.fwmark" },
        { """{ "transparent": { "fwmark": -1 } }""", "transparent.fwmark" },
        { """{ "transparent": { "fwmark": "0x10" }, "upstream": { "mark": 16 } }""", "transparent.fwmark" },
        { """{ "transparent": { "enabled": true, "fwmark": "0x5454" }, "upstream": { "address": "127.0.0.1:2080" } }""", "transparent.fwmark" },
        { """{ "transparent": { "routeTable": 0 } }""", "transparent.routeTable" },
        { """{ "transparent": { "routeTable": -1 } }""", "transparent.routeTable" },
        { """{ "transparent": { "routeTable": 253 } }""", "transparent.routeTable" },
        { """{ "transparent": { "routeTable": 254 } }""", "transparent.routeTable" },
        { """{ "transparent": { "routeTable": 255 } }""", "transparent.routeTable" },
        { """{ "transparent": { "routeTable": 4294967295 } }""", "transparent.routeTable" },
        { """{ "transparent": { "rulePriority": 0 } }""", "transparent.rulePriority" },
        { """{ "transparent": { "rulePriority": 32766 } }""", "transparent.rulePriority" },
        { """{ "transparent": { "bypass": [ "10.0.0.0/8", "fd00::/8", "10.0.0.1/8" ] } }""", "transparent.bypass[2]" },
        { """{ "transparent": { "bypass": [ "lan" ] } }""", "transparent.bypass[0]" },
        { """{ "transparent": { "bypass": "10.0.0.0/8" } }""", "transparent.bypass" },
        { """{ "transparent": { "idleTimeout": 0 } }""", "transparent.idleTimeout" },
        { """{ "transparent": { "idleTimeout": -1 } }""", "transparent.idleTimeout" },
        { """{ "transparent": { "idleTimeout": 1e12 } }""", "transparent.idleTimeout" },
        { """{ "transparent": { "idleTimout": 10 } }""", "transparent.idleTimout" },
        { """{ "transparent": null }""", "transparent" },
        { """{ "transparent": { "interfaces": [ null ] } }""", "transparent.interfaces[0]" },
        { """{ "transparent": { "interfaces": [ {} ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "abcdefghijklmnop" } ] } }""", "transparent.interfaces[0].name" },
        { $$"""{ "transparent": { "interfaces": [ { "name": "{{new string('é', 8)}}" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth/1" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth 1" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1\t" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth0:1" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "." } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": ".." } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "lo" } ] } }""", "transparent.interfaces[0].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1" }, { "name": "eth1" } ] } }""", "transparent.interfaces[1].name" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "nmae": "x" } ] } }""", "transparent.interfaces[0].nmae" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "nope" } ] } }""", "transparent.interfaces[0].proxy" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "proxy:0" } ] } }""", "transparent.interfaces[0].proxy" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "2001:db8::1:1080" } ] } }""", "transparent.interfaces[0].proxy" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "username": "u", "password": "p" } ] } }""", "transparent.interfaces[0].username" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "password": "p" } ] } }""", "transparent.interfaces[0].password" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "passwordFile": "p" } ] } }""", "transparent.interfaces[0].passwordFile" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "p:1", "username": "u" } ] } }""", "transparent.interfaces[0].password" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "p:1", "password": "p" } ] } }""", "transparent.interfaces[0].username" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "p:1", "username": "", "password": "p" } ] } }""", "transparent.interfaces[0].username" },
        { $$"""{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "p:1", "username": "u", "password": "{{new string('p', 256)}}" } ] } }""", "transparent.interfaces[0].password" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "proxy": "p:1", "username": "u", "password": "p", "passwordFile": "f" } ] } }""", "transparent.interfaces[0].password" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "maxConnections": -1 } ] } }""", "transparent.interfaces[0].maxConnections" },
        { """{ "transparent": { "interfaces": [ { "name": "eth1", "maxConnections": 1.5 } ] } }""", "transparent.interfaces[0].maxConnections" },
        { """{ "transparent": { "enabled": true, "interfaces": [ { "name": "eth1" } ] } }""", "upstream.address" },
    };

    [Theory]
    [MemberData(nameof(InvalidFields))]
    public void Parse_InvalidField_ReportsErrorAtItsPath(string json, string path)
        => AssertErrorAt(ConfigLoader.Parse(json, null), path);

    [Fact]
    public void Parse_SecondInterfaceNameInvalid_ReportsItsIndex()
    {
        var result = ConfigLoader.Parse("""{ "transparent": { "interfaces": [ { "name": "eth0" }, { "name": "lo" } ] } }""", null);

        Assert.StartsWith("transparent.interfaces[1].name: ", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("eth1")]
    [InlineData("abcdefghijklmno")]
    [InlineData("br-lan.10")]
    [InlineData("wg0")]
    [InlineData("lo0")]
    public void Parse_UsableInterfaceName_IsAccepted(string name)
        => AssertValid(ConfigLoader.Parse($$"""{ "transparent": { "interfaces": [ { "name": "{{name}}" } ] } }""", null));

    [Theory]
    [InlineData(1)]
    [InlineData(252)]
    [InlineData(256)]
    [InlineData(int.MaxValue)]
    public void Parse_UsableRouteTable_IsAccepted(int table)
        => AssertValid(ConfigLoader.Parse($$"""{ "transparent": { "routeTable": {{table}} } }""", null));

    [Fact]
    public void Parse_EnabledWithoutUpstream_NamesFirstInterfaceWithoutProxy()
    {
        const string json = """
            { "transparent": { "enabled": true, "interfaces": [ { "name": "eth1", "proxy": "10.0.0.2:1080" }, { "name": "eth2" }, { "name": "eth3" } ] } }
            """;

        var error = Assert.Single(ConfigLoader.Parse(json, null).Errors);

        Assert.Equal("upstream.address: required because transparent.enabled is true and interface 'eth2' has no proxy or upstream", error);
    }

    [Theory]
    [InlineData("""{ "transparent": { "enabled": true, "interfaces": [ { "name": "eth1", "proxy": "10.0.0.2:1080" }, { "name": "eth2", "proxy": "p.example:1080" } ] } }""")]
    [InlineData("""{ "transparent": { "enabled": true, "interfaces": [ { "name": "eth1" } ] }, "upstream": { "address": "127.0.0.1:2080" } }""")]
    [InlineData("""{ "transparent": { "enabled": false, "interfaces": [ { "name": "eth1" } ] } }""")]
    [InlineData("""{ "transparent": { "enabled": true } }""")]
    public void Parse_EnabledWithAProxyForEveryInterface_IsAccepted(string json)
        => AssertValid(ConfigLoader.Parse(json, null));

    [Theory]
    [InlineData("""{ "transparent": { "fwmark": "0x5454" } }""")]
    [InlineData("""{ "transparent": { "enabled": true, "fwmark": "0x5454" }, "upstream": { "address": "127.0.0.1:2080", "mark": 1 } }""")]
    [InlineData("""{ "transparent": { "enabled": true, "fwmark": 1 }, "upstream": { "address": "127.0.0.1:2080", "mark": "0x5453" } }""")]
    public void Parse_FwmarkDistinctFromEffectiveUpstreamMark_IsAccepted(string json)
        => AssertValid(ConfigLoader.Parse(json, null));

    [Fact]
    public void Parse_FwmarkEqualToUpstreamMark_NamesBothKeys()
    {
        var error = Assert.Single(ConfigLoader.Parse("""{ "transparent": { "fwmark": 255 }, "upstream": { "mark": "0xff" } }""", null).Errors);

        Assert.StartsWith("transparent.fwmark: must differ from upstream.mark (0xff)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EnabledFwmarkEqualToDefaultOutboundMark_ExplainsTheClash()
    {
        var result = ConfigLoader.Parse("""{ "transparent": { "enabled": true, "fwmark": "0x5454" }, "upstream": { "address": "127.0.0.1:2080" } }""", null);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("transparent.fwmark: 0x5454 ", error, StringComparison.Ordinal);
        Assert.Contains("upstream.mark", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0u, false, 0u)]
    [InlineData(0u, true, 0x5454u)]
    [InlineData(7u, false, 7u)]
    [InlineData(7u, true, 7u)]
    public void EffectiveMark_MarkAndTransparentState_GivesMarkOrTransparentDefault(uint mark, bool transparentEnabled, uint expected)
    {
        var upstream = new UpstreamOptions { Mark = mark };

        Assert.Equal(expected, upstream.EffectiveMark(transparentEnabled));
    }

    [Fact]
    public void TransparentDefaultMark_DiffersFromDefaultFwmark()
        => Assert.NotEqual(UpstreamOptions.TransparentDefaultMark, new TransparentOptions().Fwmark);

    [Fact]
    public void Parse_InterfacePasswordFile_ReadsRelativeToBaseDirectory()
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/eth1.pass", "lanpw\n"));

        var item = Assert.Single(AssertValid(ConfigLoader.Parse("""
            { "transparent": { "interfaces": [ { "name": "eth1", "proxy": "10.0.0.2:1080", "username": "lan", "passwordFile": "eth1.pass" } ] } }
            """, FakePasswordFiles.BaseDirectory, files)).Transparent.Interfaces);

        Assert.Null(item.Password);
        Assert.Equal("lanpw", item.EffectivePassword);
    }

    [Fact]
    public void Parse_UnreadableInterfacePasswordFile_ReportsErrorAtPasswordFile()
    {
        var files = FakePasswordFiles.Failing(new IOException("Is a directory"));

        var result = ConfigLoader.Parse("""
            { "transparent": { "interfaces": [ { "name": "eth1" }, { "name": "eth2", "proxy": "10.0.0.2:1080", "username": "lan", "passwordFile": "eth2.pass" } ] } }
            """, FakePasswordFiles.BaseDirectory, files);

        Assert.Equal(["transparent.interfaces[1].passwordFile: cannot read '/etc/transparentsocks/eth2.pass': Is a directory"], result.Errors);
    }

    [Fact]
    public void ToString_InterfacePasswords_AreRedacted()
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/eth2.pass", "filesecret"));
        var options = AssertValid(ConfigLoader.Parse("""
            {
              "transparent": {
                "interfaces": [
                  { "name": "eth1", "proxy": "10.0.0.2:1080", "username": "lan", "password": "inlinesecret" },
                  { "name": "eth2", "proxy": "10.0.0.3:1080", "username": "lan", "passwordFile": "eth2.pass" }
                ]
              }
            }
            """, FakePasswordFiles.BaseDirectory, files));

        var interfaces = options.Transparent.Interfaces;
        foreach (var text in new[] { options.ToString(), options.ToRedactedJson(indented: true), interfaces[0].ToString(), interfaces[1].ToString() })
        {
            Assert.DoesNotContain("inlinesecret", text, StringComparison.Ordinal);
            Assert.DoesNotContain("filesecret", text, StringComparison.Ordinal);
        }

        Assert.Equal("eth1", interfaces[0].ToString());
        Assert.Contains("\"password\":\"***\"", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("eth2.pass", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("inlinesecret", ConfigLoader.Serialize(options), StringComparison.Ordinal);
        Assert.DoesNotContain("filesecret", ConfigLoader.Serialize(options), StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_Transparent_UsesConfigKeyNames()
    {
        var json = ConfigLoader.Serialize(new TransparentSocksOptions());

        foreach (var key in new[] { "\"transparent\"", "\"mode\": \"tproxy\"", "\"ipv6\": true", "\"fwmark\": 21587", "\"routeTable\"", "\"rulePriority\"", "\"bypassDefaults\"", "\"idleTimeout\"", "\"interfaces\"" })
        {
            Assert.Contains(key, json, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_TransparentBuiltInCode_ReportsErrors()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.Mode = (TransparentMode)9;
        options.Transparent.Interfaces.Add(new InterfaceOptions { Name = "eth1", Proxy = "bad" });
        options.Transparent.Bypass.Add("nowhere");

        var errors = ConfigLoader.Validate(options, null);

        Assert.Contains(errors, e => e.StartsWith("transparent.mode: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("transparent.interfaces[0].proxy: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("transparent.bypass[0]: ", StringComparison.Ordinal));
        Assert.Throws<FormatException>(() => options.Transparent.Interfaces[0].ProxyEndpoint);
        Assert.Throws<FormatException>(() => options.Transparent.BypassNetworks);
    }

    [Fact]
    public void Validate_NullTransparentSection_IsRefused()
    {
        var options = new TransparentSocksOptions { Transparent = null! };

        Assert.StartsWith("$: ", Assert.Single(ConfigLoader.Validate(options, null)), StringComparison.Ordinal);
    }
}
