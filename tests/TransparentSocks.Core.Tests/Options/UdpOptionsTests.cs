using System.Globalization;
using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

[Trait("Category", "Unit")]
public sealed class UdpOptionsTests
{
    private static TransparentSocksOptions AssertValid(ConfigResult result)
    {
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        return result.Options;
    }

    [Fact]
    public void Parse_EmptyObject_GivesUdpDefaults()
    {
        var options = AssertValid(ConfigLoader.Parse("{}", null));

        Assert.True(options.Transparent.Udp);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Transparent.UdpTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Transparent.UdpDnsTimeout);
        Assert.Equal(4096, options.Transparent.MaxUdpFlows);
        Assert.True(options.Server.Udp);
        Assert.Equal(TimeSpan.FromSeconds(60), options.Server.UdpTimeout);
        Assert.Equal(1024, options.Server.MaxUdpAssociations);
    }

    [Fact]
    public void Parse_UdpKeys_ResolveValues()
    {
        const string json = """
            {
              "transparent": { "udp": false, "udpTimeout": 120.5, "udpDnsTimeout": 2, "maxUdpFlows": 100 },
              "server": { "udp": false, "udpTimeout": 30, "maxUdpAssociations": 8 }
            }
            """;

        var options = AssertValid(ConfigLoader.Parse(json, null));

        Assert.False(options.Transparent.Udp);
        Assert.Equal(TimeSpan.FromSeconds(120.5), options.Transparent.UdpTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Transparent.UdpDnsTimeout);
        Assert.Equal(100, options.Transparent.MaxUdpFlows);
        Assert.False(options.Server.Udp);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Server.UdpTimeout);
        Assert.Equal(8, options.Server.MaxUdpAssociations);
    }

    [Fact]
    public void Serialize_UdpKeys_RoundTripThroughTheLoader()
    {
        var options = new TransparentSocksOptions();
        options.Transparent.Udp = false;
        options.Transparent.UdpTimeoutSeconds = 90;
        options.Transparent.UdpDnsTimeoutSeconds = 0.25;
        options.Transparent.MaxUdpFlows = 1_000_000;
        options.Server.Udp = false;
        options.Server.UdpTimeoutSeconds = 86400;
        options.Server.MaxUdpAssociations = 1;

        var json = ConfigLoader.Serialize(options);
        var parsed = AssertValid(ConfigLoader.Parse(json, null));

        foreach (var key in new[] { "\"udp\": false", "\"udpTimeout\": 90", "\"udpDnsTimeout\": 0.25", "\"maxUdpFlows\": 1000000", "\"maxUdpAssociations\": 1" })
        {
            Assert.Contains(key, json, StringComparison.Ordinal);
        }

        Assert.False(parsed.Transparent.Udp);
        Assert.Equal(90, parsed.Transparent.UdpTimeoutSeconds);
        Assert.Equal(0.25, parsed.Transparent.UdpDnsTimeoutSeconds);
        Assert.Equal(1_000_000, parsed.Transparent.MaxUdpFlows);
        Assert.False(parsed.Server.Udp);
        Assert.Equal(86400, parsed.Server.UdpTimeoutSeconds);
        Assert.Equal(1, parsed.Server.MaxUdpAssociations);
    }

    [Fact]
    public void Parse_DnsTimeoutLongerThanUdpTimeout_IsAccepted()
        => AssertValid(ConfigLoader.Parse("""{ "transparent": { "udpTimeout": 5, "udpDnsTimeout": 30 } }""", null));

    [Theory]
    [InlineData("transparent", "udpTimeout")]
    [InlineData("transparent", "udpDnsTimeout")]
    [InlineData("server", "udpTimeout")]
    public void Parse_UdpTimeoutBounds_AreAccepted(string section, string key)
    {
        foreach (var seconds in new[] { "0.001", "86400" })
        {
            AssertValid(ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{seconds}} } }""", null));
        }
    }

    [Theory]
    [InlineData("transparent", "maxUdpFlows")]
    [InlineData("server", "maxUdpAssociations")]
    public void Parse_UdpLimitBounds_AreAccepted(string section, string key)
    {
        foreach (var limit in new[] { 1, 1_000_000 })
        {
            AssertValid(ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{limit.ToString(CultureInfo.InvariantCulture)}} } }""", null));
        }
    }

    public static TheoryData<string, string, string> InvalidValues()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var (section, key) in new[] { ("transparent", "udpTimeout"), ("transparent", "udpDnsTimeout"), ("server", "udpTimeout") })
        {
            foreach (var value in new[] { "0", "-1", "0.0009", "86400.5", "1e308", "\"60\"", "null" })
            {
                data.Add(section, key, value);
            }
        }

        foreach (var (section, key) in new[] { ("transparent", "maxUdpFlows"), ("server", "maxUdpAssociations") })
        {
            foreach (var value in new[] { "0", "-1", "1000001", "1.5", "\"10\"" })
            {
                data.Add(section, key, value);
            }
        }

        data.Add("transparent", "udp", "\"yes\"");
        data.Add("server", "udp", "1");
        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void Parse_InvalidUdpValue_IsRefusedNamingTheField(string section, string key, string value)
    {
        var result = ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{value}} } }""", null);

        Assert.False(result.IsValid);
        Assert.StartsWith($"{section}.{key}: ", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.Epsilon)]
    public void Validate_NonFiniteOrSubMillisecondUdpTimeoutsBuiltInCode_AreRefusedNamingEachField(double seconds)
    {
        var options = new TransparentSocksOptions();
        options.Transparent.UdpTimeoutSeconds = seconds;
        options.Transparent.UdpDnsTimeoutSeconds = seconds;
        options.Server.UdpTimeoutSeconds = seconds;

        var errors = ConfigLoader.Validate(options, null);

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("transparent.udpTimeout: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("transparent.udpDnsTimeout: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("server.udpTimeout: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_UdpTimeoutOverADay_SaysTheCeiling()
    {
        var error = Assert.Single(ConfigLoader.Parse("""{ "transparent": { "udpTimeout": 90000 } }""", null).Errors);

        Assert.Equal("transparent.udpTimeout: 90000 is out of range; must be between 0.001 and 86400 seconds, in whole milliseconds", error);
    }
}
