using System.Net;
using System.Runtime.CompilerServices;
using TransparentSocks.Linux.Config;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Tests.Config;

[Trait("Category", "Unit")]
public class ExampleConfigTests
{
    [Fact]
    public void Load_ShippedExample_IsValid()
    {
        var result = ConfigFile.Load(ExamplePath());

        Assert.True(result.IsValid, string.Join(Environment.NewLine, result.Errors));
        Assert.True(result.Options.Server.Enabled);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 1080), result.Options.Server.ListenEndPoint);
        Assert.Equal("direct", result.Options.Server.Outbound);
        Assert.False(result.Options.Transparent.Enabled);
        Assert.Equal(TransparentMode.Tproxy, result.Options.Transparent.Mode);
        Assert.Equal(0x5453u, result.Options.Transparent.Fwmark);
        Assert.Empty(result.Options.Transparent.Interfaces);
    }

    // Located from this source file rather than the build output, which may live outside the repository.
    private static string ExamplePath([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { Path.GetDirectoryName(sourceFile), AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = start is null ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "packaging", "transparentsocks.json");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        throw new FileNotFoundException("packaging/transparentsocks.json not found above the test sources");
    }
}
