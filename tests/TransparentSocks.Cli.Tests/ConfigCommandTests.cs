using TransparentSocks.TestSupport;

namespace TransparentSocks.Cli.Tests;

[Trait("Category", "Integration")]
public sealed class ConfigCommandTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tscli-test-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task ConfigCheck_ValidFile_ExitsZero()
    {
        var path = Write("""{ "server": { "enabled": true } }""");

        var result = await RunAsync("config", "check", "--config", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("valid", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_BadField_ExitsTwoNamingTheField()
    {
        var path = Write("""{ "upstream": { "connectTimeout": -1 } }""");

        var result = await RunAsync("config", "check", "--config", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("upstream.connectTimeout", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigShow_MasksPasswords()
    {
        var path = Write("""
            { "server": { "enabled": true, "users": [ { "username": "alice", "password": "very-secret-pw" } ] },
              "upstream": { "address": "127.0.0.1:1081", "username": "u", "password": "upstream-secret-pw" } }
            """);

        var result = await RunAsync("config", "show", "--config", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("alice", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret-pw", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("upstream-secret-pw", result.Output, StringComparison.Ordinal);
    }

    private string Write(string json)
    {
        var path = Path.Combine(_dir.FullName, "config.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static Task<ProcessResult> RunAsync(params string[] args)
        => ExternalProcess.RunAsync("dotnet", [typeof(Program).Assembly.Location, .. args], TimeSpan.FromSeconds(60));
}
