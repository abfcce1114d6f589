using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests.Support;

/// <summary>A stub daemon on a socket of the test's own, and the CLI pointed at it with --socket.</summary>
public abstract class StubbedCliTest : IAsyncLifetime
{
    protected DirectoryInfo Dir { get; } = Directory.CreateTempSubdirectory("tscli-");

    protected StubControlServer Stub { get; private set; } = null!;

    protected string SocketPath => Path.Combine(Dir.FullName, "control.sock");

    public Task InitializeAsync()
    {
        Stub = StubControlServer.Start(SocketPath);
        Stub.On(HttpMethod.Get, ControlApi.Status, StubReply.Ok(Canned.Status, ControlJsonContext.Default.StatusResponse))
            .On(HttpMethod.Get, ControlApi.Server, StubReply.Ok(Canned.Server, ControlJsonContext.Default.ServerInfo))
            .On(HttpMethod.Get, ControlApi.Sessions, StubReply.Ok(Canned.Sessions, ControlJsonContext.Default.SessionsResponse))
            .On(HttpMethod.Get, ControlApi.Upstreams, StubReply.Ok(Canned.Upstreams, ControlJsonContext.Default.UpstreamsResponse))
            .On(HttpMethod.Get, ControlApi.Interface("eth1"), StubReply.Ok(Canned.Eth1, ControlJsonContext.Default.InterfaceInfo))
            .On(HttpMethod.Get, ControlApi.Interface("server"), StubReply.Ok(Canned.Eth1 with { Name = "server" }, ControlJsonContext.Default.InterfaceInfo))
            .On(HttpMethod.Put, ControlApi.Endpoint, StubReply.Ok(Canned.DefaultUpstream, ControlJsonContext.Default.UpstreamInfo))
            .On(HttpMethod.Put, ControlApi.Timeout, StubReply.Ok(Canned.Settings, ControlJsonContext.Default.SettingsInfo))
            .On(HttpMethod.Put, ControlApi.Pooling, StubReply.Ok(Canned.Settings, ControlJsonContext.Default.SettingsInfo))
            .On(HttpMethod.Put, ControlApi.MaxPoolSize, StubReply.Ok(Canned.Settings, ControlJsonContext.Default.SettingsInfo))
            .On(HttpMethod.Put, ControlApi.Verbose, StubReply.Ok(Canned.Settings with { Verbose = true }, ControlJsonContext.Default.SettingsInfo))
            .On(HttpMethod.Post, ControlApi.InterfaceEnable("eth1"), StubReply.Ok(Canned.Eth1, ControlJsonContext.Default.InterfaceInfo))
            .On(HttpMethod.Post, ControlApi.InterfaceDisable("eth1"), StubReply.Ok(Canned.Message("eth1 disabled"), ControlJsonContext.Default.MessageResponse))
            .On(HttpMethod.Post, ControlApi.ServerStart, StubReply.Ok(Canned.Server, ControlJsonContext.Default.ServerInfo))
            .On(HttpMethod.Post, ControlApi.ServerStop, StubReply.Ok(Canned.Server with { Running = false, Listen = null }, ControlJsonContext.Default.ServerInfo))
            .On(HttpMethod.Post, ControlApi.Reload, StubReply.Ok(Canned.Message("configuration reloaded"), ControlJsonContext.Default.MessageResponse));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Stub.DisposeAsync();
        Dir.Delete(recursive: true);
    }

    /// <summary>Runs the CLI in-process with <c>--socket</c> pointing at the stub.</summary>
    protected Task<CliResult> RunAsync(params string[] args) => CliRun.InProcessAsync(["--socket", SocketPath, .. args]);

    /// <summary>A usage error: exit 2 with <paramref name="message"/> and the pointer to --help, and no control call made.</summary>
    protected async Task AssertRefusedBeforeAnyCallAsync(string message, string[] args)
    {
        var result = await RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
        Assert.Contains("--help' for usage.", result.Error, StringComparison.Ordinal);
        Assert.Empty(Stub.Requests);
    }

    protected string WriteFile(string name, string content)
    {
        var path = Path.Combine(Dir.FullName, name);
        File.WriteAllText(path, content);
        return path;
    }
}
