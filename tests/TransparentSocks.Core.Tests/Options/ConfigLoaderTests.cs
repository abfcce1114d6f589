using System.Net;
using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

[Trait("Category", "Unit")]
public class ConfigLoaderTests
{
    private static TransparentSocksOptions AssertValid(ConfigResult result)
    {
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        Assert.Empty(result.Errors);
        return result.Options;
    }

    private static void AssertErrorAt(ConfigResult result, string path)
    {
        Assert.False(result.IsValid);
        Assert.Null(result.Options);
        Assert.True(
            result.Errors.Any(e => e.StartsWith(path + ": ", StringComparison.Ordinal)),
            $"expected an error at '{path}', got:{Environment.NewLine}{string.Join(Environment.NewLine, result.Errors)}");
    }

    [Fact]
    public void Parse_EmptyObject_GivesDefaults()
    {
        var options = AssertValid(ConfigLoader.Parse("{}", null));

        Assert.False(options.Server.Enabled);
        Assert.Equal("127.0.0.1:1080", options.Server.Listen);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 1080), options.Server.ListenEndPoint);
        Assert.Empty(options.Server.Users);
        Assert.False(options.Server.AllowNoAuthOnPublicAddress);
        Assert.Null(options.Server.AllowedClientSet);
        Assert.Equal(NetworkSetCount(), options.Server.DeniedDestinationSet.Count);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Server.HandshakeTimeout);
        Assert.Equal(512, options.Server.MaxHandshakes);
        Assert.Equal(32, options.Server.MaxHandshakesPerClient);
        Assert.Equal(TimeSpan.FromMinutes(5), options.Server.IdleTimeout);
        Assert.Equal(10000, options.Server.MaxConnections);
        Assert.Equal("direct", options.Server.Outbound);
        Assert.Null(options.Upstream.Address);
        Assert.Null(options.Upstream.Endpoint);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Upstream.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Upstream.HandshakeTimeout);
        Assert.Equal(0u, options.Upstream.Mark);
        Assert.Equal(RelayMode.Splice, options.Relay.Mode);
        Assert.Equal(1048576, options.Relay.PipeSize);
        Assert.Equal(65536, options.Relay.BufferSize);
        Assert.Equal(0, options.Relay.Workers);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Relay.DrainTimeout);
        Assert.Equal(LogLevelName.Information, options.Logging.Level);

        static int NetworkSetCount() => TransparentSocks.Addressing.NetworkSet.DefaultDeniedDestinations.Count;
    }

    [Fact]
    public void Parse_CommentsAndTrailingCommas_AreAccepted()
    {
        const string json = """
            // leading comment
            {
              /* block comment */
              "server": {
                "enabled": true, // trailing comment
                "listen": "[::1]:1081",
                "users": [ { "username": "alice", "password": "secret", }, ],
              },
              "relay": { "mode": "copy", },
            }
            """;

        var options = AssertValid(ConfigLoader.Parse(json, null));

        Assert.True(options.Server.Enabled);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 1081), options.Server.ListenEndPoint);
        Assert.Equal("alice", Assert.Single(options.Server.Users).Username);
        Assert.Equal(RelayMode.Copy, options.Relay.Mode);
    }

    [Fact]
    public void Parse_FullConfig_ResolvesValues()
    {
        const string json = """
            {
              "server": {
                "enabled": true,
                "listen": "0.0.0.0:1080",
                "users": [ { "username": "alice", "password": "secret" } ],
                "allowedClients": [ "192.168.0.0/16", "fd00::/8" ],
                "denyDestinations": [ "203.0.113.0/24" ],
                "handshakeTimeout": 2.5,
                "outbound": "upstream"
              },
              "upstream": { "address": "proxy.example:2080", "username": "u", "password": "p", "mark": "0x1f" },
              "logging": { "level": "debug" }
            }
            """;

        var options = AssertValid(ConfigLoader.Parse(json, null));

        Assert.Equal(new IPEndPoint(IPAddress.Any, 1080), options.Server.ListenEndPoint);
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.Server.HandshakeTimeout);
        Assert.Equal("upstream", options.Server.Outbound);
        Assert.True(options.Server.AllowedClientSet!.Contains(IPAddress.Parse("192.168.4.5")));
        Assert.True(options.Server.AllowedClientSet!.Contains(IPAddress.Parse("fd12::1")));
        Assert.False(options.Server.AllowedClientSet!.Contains(IPAddress.Parse("10.0.0.1")));
        Assert.True(options.Server.DeniedDestinationSet.Contains(IPAddress.Parse("203.0.113.9")));
        Assert.True(options.Server.DeniedDestinationSet.Contains(IPAddress.Loopback));
        Assert.Equal("proxy.example", options.Upstream.Endpoint!.Value.Host);
        Assert.Equal(2080, options.Upstream.Endpoint!.Value.Port);
        Assert.Equal("p", options.Upstream.EffectivePassword);
        Assert.Equal(0x1fu, options.Upstream.Mark);
        Assert.Equal("secret", options.Server.Users[0].EffectivePassword);
        Assert.Equal(LogLevelName.Debug, options.Logging.Level);
    }

    [Fact]
    public void DeniedDestinationSet_AllowPrivateDestinations_KeepsOnlyExtras()
    {
        var options = AssertValid(ConfigLoader.Parse("""{ "server": { "allowPrivateDestinations": true, "denyDestinations": ["198.51.100.0/24"] } }""", null));

        Assert.False(options.Server.DeniedDestinationSet.Contains(IPAddress.Loopback));
        Assert.True(options.Server.DeniedDestinationSet.Contains(IPAddress.Parse("198.51.100.1")));
    }

    [Theory]
    [InlineData("4294967295", 4294967295u)]
    [InlineData("\"0xFFFFFFFF\"", 4294967295u)]
    [InlineData("\"0x1\"", 1u)]
    [InlineData("\"42\"", 42u)]
    [InlineData("256", 256u)]
    public void Parse_Mark_AcceptsNumberOrHexString(string mark, uint expected)
        => Assert.Equal(expected, AssertValid(ConfigLoader.Parse($$"""{ "upstream": { "mark": {{mark}} } }""", null)).Upstream.Mark);

    public static TheoryData<string, string> InvalidFields => new()
    {
        { """{ "server": { "listen": "1.2.3.4" } }""", "server.listen" },
        { """{ "server": { "listen": "localhost:1080" } }""", "server.listen" },
        { """{ "server": { "listen": "::1:1080" } }""", "server.listen" },
        { """{ "server": { "listen": "127.0.0.1:0" } }""", "server.listen" },
        { """{ "server": { "listen": "127.0.0.1:65536" } }""", "server.listen" },
        { """{ "server": { "enabled": "yes" } }""", "server.enabled" },
        { """{ "server": { "users": [ { "username": "", "password": "x" } ] } }""", "server.users[0].username" },
        { """{ "server": { "users": [ { "password": "x" } ] } }""", "server.users[0].username" },
        { $$"""{ "server": { "users": [ { "username": "a", "password": "x" }, { "username": "{{new string('b', 256)}}", "password": "x" } ] } }""", "server.users[1].username" },
        { $$"""{ "server": { "users": [ { "username": "{{new string('é', 128)}}", "password": "x" } ] } }""", "server.users[0].username" },
        { """{ "server": { "users": [ { "username": "a", "password": "x" }, { "username": "a", "password": "y" } ] } }""", "server.users[1].username" },
        { """{ "server": { "users": [ { "username": "a" } ] } }""", "server.users[0].password" },
        { """{ "server": { "users": [ { "username": "a", "password": "" } ] } }""", "server.users[0].password" },
        { """{ "server": { "users": [ { "username": "a", "password": "x", "passwordFile": "f" } ] } }""", "server.users[0].password" },
        { """{ "server": { "users": [ null ] } }""", "server.users[0]" },
        { """{ "server": { "users": [ { "username": "a", "pasword": "x" } ] } }""", "server.users[0].pasword" },
        { """{ "server": { "allowedClients": [ "10.0.0.0/8", "::/0", "10.0.0.1/8" ] } }""", "server.allowedClients[2]" },
        { """{ "server": { "allowedClients": [ "everyone" ] } }""", "server.allowedClients[0]" },
        { """{ "server": { "denyDestinations": [ "10.0.0.0/8", "300.0.0.0/8" ] } }""", "server.denyDestinations[1]" },
        { """{ "server": { "handshakeTimeout": 0 } }""", "server.handshakeTimeout" },
        { """{ "server": { "handshakeTimeout": -1 } }""", "server.handshakeTimeout" },
        { """{ "server": { "handshakeTimeout": "10" } }""", "server.handshakeTimeout" },
        { """{ "server": { "idleTimeout": 0 } }""", "server.idleTimeout" },
        { """{ "server": { "idleTimeout": 1e12 } }""", "server.idleTimeout" },
        { """{ "server": { "idleTimeout": 0.0005 } }""", "server.idleTimeout" },
        { """{ "server": { "idleTimeout": 5e-324 } }""", "server.idleTimeout" },
        { """{ "server": { "maxHandshakes": 0 } }""", "server.maxHandshakes" },
        { """{ "server": { "maxHandshakes": 1.5 } }""", "server.maxHandshakes" },
        { """{ "server": { "maxHandshakesPerClient": 0 } }""", "server.maxHandshakesPerClient" },
        { """{ "server": { "maxHandshakesPerClient": -1 } }""", "server.maxHandshakesPerClient" },
        { """{ "server": { "maxHandshakesPerClient": 1.5 } }""", "server.maxHandshakesPerClient" },
        { """{ "server": { "maxConnections": -5 } }""", "server.maxConnections" },
        { """{ "server": { "outbound": "socks" } }""", "server.outbound" },
        { """{ "server": { "outbound": 1 } }""", "server.outbound" },
        { """{ "server": { "outbound": "upstream" } }""", "upstream.address" },
        { """{ "server": null }""", "server" },
        { """{ "server": { "listen": "127.0.0.1:1", "listen": "127.0.0.1:2" } }""", "server.listen" },
        { """{ "upstream": { "address": "nope" } }""", "upstream.address" },
        { """{ "upstream": { "address": "proxy:0" } }""", "upstream.address" },
        { """{ "upstream": { "address": "2001:db8::1:1080" } }""", "upstream.address" },
        { """{ "upstream": { "connectTimeout": 0 } }""", "upstream.connectTimeout" },
        { """{ "upstream": { "handshakeTimeout": -0.5 } }""", "upstream.handshakeTimeout" },
        { """{ "upstream": { "username": "", "password": "p" } }""", "upstream.username" },
        { """{ "upstream": { "password": "p" } }""", "upstream.username" },
        { """{ "upstream": { "username": "u" } }""", "upstream.password" },
        { $$"""{ "upstream": { "username": "u", "password": "{{new string('p', 256)}}" } }""", "upstream.password" },
        { """{ "upstream": { "username": "u", "password": "p", "passwordFile": "f" } }""", "upstream.password" },
        { """{ "upstream": { "mark": "0xZZ" } }""", "upstream.mark" },
        { """{ "upstream": { "mark": 4294967296 } }""", "upstream.mark" },
        { """{ "upstream": { "mark": -1 } }""", "upstream.mark" },
        { """{ "upstream": { "mark": true } }""", "upstream.mark" },
        { """{ "relay": { "mode": "fast" } }""", "relay.mode" },
        { """{ "relay": { "pipeSize": 1024 } }""", "relay.pipeSize" },
        { """{ "relay": { "pipeSize": 16777217 } }""", "relay.pipeSize" },
        { """{ "relay": { "bufferSize": 2097152 } }""", "relay.bufferSize" },
        { """{ "relay": { "workers": -1 } }""", "relay.workers" },
        { """{ "relay": { "drainTimeout": -1 } }""", "relay.drainTimeout" },
        { """{ "relay": { "drainTimeout": 61 } }""", "relay.drainTimeout" },
        { """{ "logging": { "level": "trace" } }""", "logging.level" },
        { """{ "logging": { "level": 2 } }""", "logging.level" },
        { """[]""", "$" },
        { """null""", "$" },
    };

    [Theory]
    [InlineData(0)]
    [InlineData(0.5)]
    [InlineData(60)]
    public void Parse_DrainTimeoutFromZeroToSixty_IsAccepted(double seconds)
    {
        var options = AssertValid(ConfigLoader.Parse($$"""{ "relay": { "drainTimeout": {{seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}} } }""", null));

        Assert.Equal(TimeSpan.FromSeconds(seconds), options.Relay.DrainTimeout);
    }

    [Fact]
    public void Parse_TimeoutBelowOneMillisecond_IsRefusedRatherThanRoundedToNone()
    {
        var error = Assert.Single(ConfigLoader.Parse("""{ "upstream": { "connectTimeout": 0.0009 } }""", null).Errors);

        Assert.Equal("upstream.connectTimeout: 0.0009 is out of range; must be between 0.001 and 2147483 seconds, in whole milliseconds", error);
        Assert.Equal(TimeSpan.FromMilliseconds(1), AssertValid(ConfigLoader.Parse("""{ "upstream": { "connectTimeout": 0.001 } }""", null)).Upstream.ConnectTimeout);
    }

    public static TheoryData<string, string> DurationFields => new()
    {
        { "server", "handshakeTimeout" },
        { "server", "idleTimeout" },
        { "server", "udpTimeout" },
        { "upstream", "connectTimeout" },
        { "upstream", "handshakeTimeout" },
        { "transparent", "idleTimeout" },
        { "transparent", "udpTimeout" },
        { "transparent", "udpDnsTimeout" },
        { "relay", "drainTimeout" },
    };

    [Theory]
    [MemberData(nameof(DurationFields))]
    public void Parse_DurationNotWholeMilliseconds_IsRefusedNamingTheFieldAndRange(string section, string key)
    {
        // 1e-9 and 0.0001 used to pass as "0 s" and switch the timeout off; 0.0015 ran as something else than it showed.
        foreach (var seconds in new[] { "1e-9", "0.0001", "0.0015", "2.0005" })
        {
            var error = Assert.Single(ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{seconds}} } }""", null).Errors);

            Assert.StartsWith($"{section}.{key}: ", error, StringComparison.Ordinal);
            Assert.Contains(" seconds, in whole milliseconds", error, StringComparison.Ordinal);
            Assert.Matches(@"must be between (0|0\.001) and \d+ seconds", error);
        }
    }

    [Theory]
    [MemberData(nameof(DurationFields))]
    public void Parse_DurationTooLargeForADouble_SaysSoNotThatItIsNotPositive(string section, string key)
    {
        var error = Assert.Single(ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": 1e400 } }""", null).Errors);

        Assert.StartsWith($"{section}.{key}: is too large to be a number of seconds; must be between ", error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(DurationFields))]
    public void Parse_DurationInWholeMilliseconds_IsAcceptedExactly(string section, string key)
    {
        foreach (var seconds in new[] { "0.001", "0.002", "2.5", "1e1" })
        {
            var result = ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{seconds}} } }""", null);

            Assert.True(result.IsValid, string.Join("; ", result.Errors));
        }
    }

    [Theory]
    [InlineData("server", "idleTimeout", "0")]
    [InlineData("transparent", "idleTimeout", "0")]
    [InlineData("upstream", "connectTimeout", "-0.001")]
    [InlineData("relay", "drainTimeout", "-0.001")]
    public void Parse_DurationZeroWhereZeroIsNotOff_IsRefusedWithTheRange(string section, string key, string seconds)
    {
        var error = Assert.Single(ConfigLoader.Parse($$"""{ "{{section}}": { "{{key}}": {{seconds}} } }""", null).Errors);

        Assert.StartsWith($"{section}.{key}: {seconds} is out of range; must be between ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_NotANumber_SaysSo()
        => Assert.Equal(
            "server.idleTimeout: is not a number; must be between 0.001 and 2147483 seconds, in whole milliseconds",
            Durations.Check("server.idleTimeout", double.NaN));

    [Theory]
    [MemberData(nameof(InvalidFields))]
    public void Parse_InvalidField_ReportsErrorAtItsPath(string json, string path)
        => AssertErrorAt(ConfigLoader.Parse(json, null), path);

    [Fact]
    public void Parse_SeveralInvalidFields_ReportsAllOfThem()
    {
        var result = ConfigLoader.Parse("""{ "server": { "listen": "x", "maxHandshakes": 0 }, "relay": { "workers": -1 } }""", null);

        Assert.Equal(3, result.Errors.Count);
        AssertErrorAt(result, "server.listen");
        AssertErrorAt(result, "server.maxHandshakes");
        AssertErrorAt(result, "relay.workers");
    }

    [Fact]
    public void Parse_ListenNotIpPort_MessageQuotesValue()
    {
        var result = ConfigLoader.Parse("""{ "server": { "listen": "1.2.3.4" } }""", null);

        Assert.StartsWith("server.listen: '1.2.3.4' is not IP:PORT", Assert.Single(result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownKey_IsRefusedNamingIt()
    {
        var result = ConfigLoader.Parse("""{ "server": { "enabled": true, "lisen": "0.0.0.0:1080" } }""", null);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("server.lisen: unknown property", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownTopLevelKey_IsRefusedNamingIt()
        => Assert.StartsWith("sever: unknown property", Assert.Single(ConfigLoader.Parse("""{ "sever": {} }""", null).Errors), StringComparison.Ordinal);

    // Found by the config fuzz target: an empty key left the error with no path at all (": unknown property").
    [Fact]
    public void Parse_EmptyTopLevelKey_IsRefusedNamingTheObject()
        => Assert.StartsWith("$: unknown property \"\"", Assert.Single(ConfigLoader.Parse("""{ "": 1 }""", null).Errors), StringComparison.Ordinal);

    [Fact]
    public void Parse_EmptyNestedKey_IsRefusedNamingTheObject()
        => Assert.StartsWith("server: unknown property \"\"", Assert.Single(ConfigLoader.Parse("""{ "server": { "": 1 } }""", null).Errors), StringComparison.Ordinal);

    [Fact]
    public void Parse_SyntaxError_ReportsLine()
    {
        const string json = "{\n  \"server\": {\n    \"enabled\": tru\n  }\n}";

        var error = Assert.Single(ConfigLoader.Parse(json, null).Errors);

        Assert.StartsWith("server.enabled: ", error, StringComparison.Ordinal);
        Assert.Contains("(line 3, ", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void Parse_TruncatedJson_ReportsError()
        => Assert.Contains("(line 2, ", Assert.Single(ConfigLoader.Parse("{\n  \"server\": {", null).Errors), StringComparison.Ordinal);

    [Fact]
    public void Parse_UnquotedPassword_DoesNotEchoIt()
    {
        var error = Assert.Single(ConfigLoader.Parse("""{ "server": { "users": [ { "username": "a", "password": hunter2 } ] } }""", null).Errors);

        Assert.StartsWith("server.users[0].password: ", error, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0.0.0.0:1080")]
    [InlineData("192.168.1.10:1080")]
    [InlineData("[::]:1080")]
    public void Parse_PublicListenWithoutAuth_IsRefusedNamingAllowNoAuthOnPublicAddress(string listen)
    {
        var result = ConfigLoader.Parse($$"""{ "server": { "enabled": true, "listen": "{{listen}}" } }""", null);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("server.allowNoAuthOnPublicAddress: listening on ", error, StringComparison.Ordinal);
        Assert.Contains("\"allowNoAuthOnPublicAddress\": true", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "server": { "enabled": true, "listen": "0.0.0.0:1080", "allowNoAuthOnPublicAddress": true } }""")]
    [InlineData("""{ "server": { "enabled": true, "listen": "0.0.0.0:1080", "users": [ { "username": "a", "password": "b" } ] } }""")]
    [InlineData("""{ "server": { "enabled": true, "listen": "127.0.0.2:1080" } }""")]
    [InlineData("""{ "server": { "enabled": true, "listen": "[::1]:1080" } }""")]
    [InlineData("""{ "server": { "enabled": false, "listen": "0.0.0.0:1080" } }""")]
    public void Parse_PublicListenWithAuthOrOptIn_IsAccepted(string json)
        => AssertValid(ConfigLoader.Parse(json, null));

    [Fact]
    public void Parse_PasswordFile_ReadsRelativeToBaseDirectoryAndTrimsOneNewline()
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/bob.pass", "s3cret \n"), ("/etc/transparentsocks/keys/upstream.pass", "up\r\n"));

        var options = AssertValid(ConfigLoader.Parse("""
            {
              "server": { "users": [ { "username": "bob", "passwordFile": "bob.pass" } ] },
              "upstream": { "address": "127.0.0.1:2080", "username": "ts", "passwordFile": "keys/upstream.pass" }
            }
            """, FakePasswordFiles.BaseDirectory, files));

        var user = Assert.Single(options.Server.Users);
        Assert.Null(user.Password);
        Assert.Equal("s3cret ", user.EffectivePassword);
        Assert.Equal("up", options.Upstream.EffectivePassword);
    }

    [Theory]
    [InlineData("a\n\n", "a\n")]
    [InlineData("a\r\n\r\n", "a\r\n")]
    [InlineData("a\r", "a\r")]
    [InlineData(" a\t", " a\t")]
    public void Parse_PasswordFile_StripsOnlyOneTrailingNewline(string contents, string expected)
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/u.pass", contents));

        var options = AssertValid(ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "u.pass" } }""", FakePasswordFiles.BaseDirectory, files));

        Assert.Equal(expected, options.Upstream.EffectivePassword);
    }

    [Fact]
    public void Parse_AbsolutePasswordFile_IgnoresBaseDirectory()
    {
        var files = FakePasswordFiles.Of(("/run/secrets/bob", "pw"));

        var options = AssertValid(ConfigLoader.Parse("""{ "server": { "users": [ { "username": "bob", "passwordFile": "/run/secrets/bob" } ] } }""", FakePasswordFiles.BaseDirectory, files));

        Assert.Equal("pw", options.Server.Users[0].EffectivePassword);
    }

    [Fact]
    public void Parse_UnreadablePasswordFile_ReportsPathAndReadersMessage()
    {
        var files = FakePasswordFiles.Failing(new IOException("Permission denied"));

        var result = ConfigLoader.Parse("""{ "server": { "users": [ { "username": "bob", "passwordFile": "bob.pass" } ] } }""", FakePasswordFiles.BaseDirectory, files);

        Assert.Equal(["server.users[0].passwordFile: cannot read '/etc/transparentsocks/bob.pass': Permission denied"], result.Errors);
    }

    [Fact]
    public void Parse_PasswordFileReaderDeniesAccess_ReportsErrorAtPasswordFile()
    {
        var files = FakePasswordFiles.Failing(new UnauthorizedAccessException("Access to the path is denied."));

        var result = ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "/root/u.pass" } }""", FakePasswordFiles.BaseDirectory, files);

        Assert.Equal(["upstream.passwordFile: cannot read '/root/u.pass': Access to the path is denied."], result.Errors);
    }

    [Fact]
    public void Parse_MissingPasswordFile_ReportsErrorAtPasswordFile()
    {
        var result = ConfigLoader.Parse("""{ "server": { "users": [ { "username": "bob", "passwordFile": "missing.pass" } ] } }""", FakePasswordFiles.BaseDirectory, FakePasswordFiles.Of());

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("server.users[0].passwordFile: cannot read '/etc/transparentsocks/missing.pass': ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void Parse_EmptyPasswordFile_ReportsErrorAtPasswordFile(string contents)
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/empty.pass", contents));

        var result = ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "empty.pass" } }""", FakePasswordFiles.BaseDirectory, files);

        Assert.Equal(["upstream.passwordFile: the password in '/etc/transparentsocks/empty.pass' must be 1-255 bytes"], result.Errors);
    }

    [Theory]
    [InlineData(255, true)]
    [InlineData(256, false)]
    public void Parse_PasswordFileLength_IsLimitedTo255Bytes(int length, bool valid)
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/long.pass", new string('p', length) + "\n"));

        var result = ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "long.pass" } }""", FakePasswordFiles.BaseDirectory, files);

        Assert.Equal(valid, result.IsValid);
    }

    [Fact]
    public void Parse_EmptyPasswordFileKey_IsRefusedWithoutReading()
    {
        var result = ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "" } }""", FakePasswordFiles.BaseDirectory, FakePasswordFiles.Failing(new InvalidOperationException("read")));

        Assert.Equal(["upstream.passwordFile: is empty"], result.Errors);
    }

    [Fact]
    public void Parse_PasswordFileWithoutReader_ReportsErrorInsteadOfReading()
    {
        var result = ConfigLoader.Parse("""{ "server": { "users": [ { "username": "bob", "passwordFile": "bob.pass" } ] } }""", FakePasswordFiles.BaseDirectory);

        Assert.Equal(["server.users[0].passwordFile: cannot read '/etc/transparentsocks/bob.pass': no password file reader was supplied"], result.Errors);
    }

    [Fact]
    public void Parse_RelativePasswordFileWithoutBaseDirectory_ResolvesAgainstCurrentDirectory()
    {
        string? asked = null;

        ConfigLoader.Parse("""{ "upstream": { "username": "u", "passwordFile": "u.pass" } }""", null, fullPath => asked = fullPath);

        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "u.pass"), asked);
    }

    [Fact]
    public void Validate_OptionsBuiltInCode_ReadsPasswordFilesThroughReader()
    {
        var options = new TransparentSocksOptions();
        options.Server.Users.Add(new UserOptions { Username = "bob", PasswordFile = "bob.pass" });

        var errors = ConfigLoader.Validate(options, FakePasswordFiles.BaseDirectory, FakePasswordFiles.Of(("/etc/transparentsocks/bob.pass", "bobpw\n")));

        Assert.Empty(errors);
        Assert.Equal("bobpw", options.Server.Users[0].EffectivePassword);
    }

    [Fact]
    public void ToString_OptionsWithPasswords_RedactsThem()
    {
        var files = FakePasswordFiles.Of(("/etc/transparentsocks/bob.pass", "filesecret"));
        var options = AssertValid(ConfigLoader.Parse("""
            {
              "server": { "users": [ { "username": "alice", "password": "hunter2" }, { "username": "bob", "passwordFile": "bob.pass" } ] },
              "upstream": { "address": "127.0.0.1:2080", "username": "ts", "password": "upstreampw" }
            }
            """, FakePasswordFiles.BaseDirectory, files));

        foreach (var text in new[] { options.ToString(), options.ToRedactedJson(indented: true), options.Server.Users[0].ToString(), options.Server.Users[1].ToString() })
        {
            Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
            Assert.DoesNotContain("upstreampw", text, StringComparison.Ordinal);
            Assert.DoesNotContain("filesecret", text, StringComparison.Ordinal);
        }

        Assert.Contains("alice", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("bob.pass", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"password\":\"***\"", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("hunter2", ConfigLoader.Serialize(options), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_OptionsBuiltInCode_ReportsErrors()
    {
        var options = new TransparentSocksOptions();
        options.Server.Listen = "nowhere";
        options.Relay.Mode = (RelayMode)42;

        var errors = ConfigLoader.Validate(options, null);

        Assert.Contains(errors, e => e.StartsWith("server.listen: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("relay.mode: ", StringComparison.Ordinal));
        Assert.Throws<FormatException>(() => options.Server.ListenEndPoint);
    }
}
