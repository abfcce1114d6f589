using System.Runtime.Versioning;
using TransparentSocks.Linux.Config;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Tests.Config;

[Trait("Category", "Unit")]
public class ConfigFileTests
{
    private static TransparentSocksOptions AssertValid(ConfigResult result)
    {
        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        Assert.Empty(result.Errors);
        return result.Options;
    }

    [Fact]
    public void Load_PasswordFile_ReadsRelativeToConfigAndTrimsOneNewline()
    {
        using var dir = new TempDirectory();
        dir.Write("bob.pass", "s3cret \n");
        dir.Write("upstream.pass", "up\r\n");
        var config = dir.Write("config.json", """
            {
              "server": { "users": [ { "username": "bob", "passwordFile": "bob.pass" } ] },
              "upstream": { "address": "127.0.0.1:2080", "username": "ts", "passwordFile": "upstream.pass" }
            }
            """);

        var options = AssertValid(ConfigFile.Load(config));

        var user = Assert.Single(options.Server.Users);
        Assert.Null(user.Password);
        Assert.Equal("s3cret ", user.EffectivePassword);
        Assert.Equal("up", options.Upstream.EffectivePassword);
    }

    [Fact]
    public void Load_MissingPasswordFile_ReportsErrorAtPasswordFile()
    {
        using var dir = new TempDirectory();
        var config = dir.Write("config.json", """{ "server": { "users": [ { "username": "bob", "passwordFile": "missing.pass" } ] } }""");

        var error = Assert.Single(ConfigFile.Load(config).Errors);

        Assert.StartsWith("server.users[0].passwordFile: cannot read ", error, StringComparison.Ordinal);
        Assert.Contains(dir.File("missing.pass"), error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    public void Load_EmptyPasswordFile_ReportsErrorAtPasswordFile(string contents)
    {
        using var dir = new TempDirectory();
        dir.Write("empty.pass", contents);
        var config = dir.Write("config.json", """{ "upstream": { "username": "u", "passwordFile": "empty.pass" } }""");

        Assert.StartsWith("upstream.passwordFile: ", Assert.Single(ConfigFile.Load(config).Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_InterfacePasswordFile_ReadsRelativeToConfig()
    {
        using var dir = new TempDirectory();
        dir.Write("eth1.pass", "lanpw\n");
        var config = dir.Write("config.json", """
            { "transparent": { "interfaces": [ { "name": "eth1", "proxy": "10.0.0.2:1080", "username": "lan", "passwordFile": "eth1.pass" } ] } }
            """);

        var item = Assert.Single(AssertValid(ConfigFile.Load(config)).Transparent.Interfaces);

        Assert.Null(item.Password);
        Assert.Equal("lanpw", item.EffectivePassword);
    }

    [Fact]
    public void Load_MissingInterfacePasswordFile_ReportsErrorAtPasswordFile()
    {
        using var dir = new TempDirectory();
        var config = dir.Write("config.json", """
            { "transparent": { "interfaces": [ { "name": "eth1" }, { "name": "eth2", "proxy": "10.0.0.2:1080", "username": "lan", "passwordFile": "missing.pass" } ] } }
            """);

        var error = Assert.Single(ConfigFile.Load(config).Errors);

        Assert.StartsWith("transparent.interfaces[1].passwordFile: cannot read ", error, StringComparison.Ordinal);
        Assert.Contains(dir.File("missing.pass"), error, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_ReportsPath()
    {
        using var dir = new TempDirectory();
        var path = dir.File("absent.json");

        Assert.StartsWith(path + ": ", Assert.Single(ConfigFile.Load(path).Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Save_ThenLoad_RoundTrips()
    {
        using var dir = new TempDirectory();
        dir.Write("bob.pass", "bobpw\n");
        var original = AssertValid(ConfigLoader.Parse("""
            {
              "server": {
                "enabled": true,
                "listen": "[::]:1080",
                "users": [ { "username": "alice", "password": "alicepw" }, { "username": "bob", "passwordFile": "bob.pass" } ],
                "allowedClients": [ "10.0.0.0/8" ],
                "denyDestinations": [ "2001:db8::/32" ],
                "idleTimeout": 12.5,
                "outbound": "upstream"
              },
              "upstream": { "address": "[2001:db8::1]:2080", "mark": "0xff" },
              "relay": { "mode": "copy", "workers": 3 },
              "logging": { "level": "warning" }
            }
            """, dir.Path, ConfigFile.ReadPasswordFile));
        var path = dir.File("config.json");

        ConfigFile.Save(original, path);
        var loaded = AssertValid(ConfigFile.Load(path));

        Assert.Equal(ConfigLoader.Serialize(original), ConfigLoader.Serialize(loaded));
        Assert.Equal("bob.pass", loaded.Server.Users[1].PasswordFile);
        Assert.Null(loaded.Server.Users[1].Password);
        Assert.Equal("bobpw", loaded.Server.Users[1].EffectivePassword);
        Assert.Equal(0xffu, loaded.Upstream.Mark);
        Assert.Equal(TimeSpan.FromSeconds(12.5), loaded.Server.IdleTimeout);
    }

    [Fact]
    public void Save_ThenLoad_RoundTripsTransparent()
    {
        using var dir = new TempDirectory();
        dir.Write("eth2.pass", "eth2pw\n");
        var original = AssertValid(ConfigLoader.Parse("""
            {
              "upstream": { "address": "127.0.0.1:2080", "mark": 9 },
              "transparent": {
                "enabled": true,
                "mode": "redirect",
                "port": 15000,
                "ipv6": false,
                "fwmark": "0xabc",
                "routeTable": 77,
                "rulePriority": 100,
                "bypass": [ "198.51.100.0/24", "2001:db8:1::/48" ],
                "bypassDefaults": false,
                "idleTimeout": 42.5,
                "interfaces": [
                  { "name": "eth1" },
                  { "name": "eth2", "proxy": "[::1]:1081", "username": "u2", "passwordFile": "eth2.pass", "maxConnections": 5 },
                  { "name": "eth3", "proxy": "proxy.example:1082", "username": "u3", "password": "p3" }
                ]
              }
            }
            """, dir.Path, ConfigFile.ReadPasswordFile));
        var path = dir.File("config.json");

        ConfigFile.Save(original, path);
        var loaded = AssertValid(ConfigFile.Load(path));

        Assert.Equal(ConfigLoader.Serialize(original), ConfigLoader.Serialize(loaded));
        var transparent = loaded.Transparent;
        Assert.True(transparent.Enabled);
        Assert.Equal(TransparentMode.Redirect, transparent.Mode);
        Assert.Equal(15000, transparent.Port);
        Assert.False(transparent.IPv6);
        Assert.Equal(0xabcu, transparent.Fwmark);
        Assert.Equal(77, transparent.RouteTable);
        Assert.Equal(100, transparent.RulePriority);
        Assert.Equal(["198.51.100.0/24", "2001:db8:1::/48"], transparent.Bypass);
        Assert.False(transparent.BypassDefaults);
        Assert.Equal(TimeSpan.FromSeconds(42.5), transparent.IdleTimeout);
        Assert.Equal(["eth1", "eth2", "eth3"], transparent.Interfaces.Select(i => i.Name));
        Assert.Equal("eth2.pass", transparent.Interfaces[1].PasswordFile);
        Assert.Null(transparent.Interfaces[1].Password);
        Assert.Equal("eth2pw", transparent.Interfaces[1].EffectivePassword);
        Assert.Equal(5, transparent.Interfaces[1].MaxConnections);
        Assert.Equal("p3", transparent.Interfaces[2].EffectivePassword);
        Assert.Equal(9u, loaded.Upstream.EffectiveMark(transparent.Enabled));
    }

    [Fact]
    public void Save_Options_WritesSerializedJsonAndOneNewline()
    {
        using var dir = new TempDirectory();
        var path = dir.File("config.json");
        var options = new TransparentSocksOptions();
        options.Server.Users.Add(new UserOptions { Username = "alice", Password = "alicepw" });

        ConfigFile.Save(options, path);

        Assert.Equal(ConfigLoader.Serialize(options) + "\n", File.ReadAllText(path));
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public void Save_NewFile_IsOwnerOnlyAndLeavesNoTempFile()
    {
        using var dir = new TempDirectory();
        var path = dir.File("config.json");

        ConfigFile.Save(new TransparentSocksOptions(), path);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public void Save_ExistingFile_ReplacesContentAndKeepsMode()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("config.json", "{}");
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        File.SetUnixFileMode(path, mode);
        var options = new TransparentSocksOptions();
        options.Relay.Workers = 7;

        ConfigFile.Save(options, path);

        Assert.Equal(7, AssertValid(ConfigFile.Load(path)).Relay.Workers);
        Assert.Equal(mode, File.GetUnixFileMode(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Save_SymlinkedConfig_WritesThroughLink()
    {
        using var dir = new TempDirectory();
        var target = dir.Write("real.json", "{}");
        var link = dir.File("config.json");
        File.CreateSymbolicLink(link, target);
        var options = new TransparentSocksOptions();
        options.Server.MaxConnections = 3;

        ConfigFile.Save(options, link);

        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal(3, AssertValid(ConfigFile.Load(target)).Server.MaxConnections);
    }
}
