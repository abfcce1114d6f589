using System.Net.Sockets;
using TransparentSocks.Cli.Tests.Support;
using TransparentSocks.Control;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Cli.Tests;

/// <summary>Finding the socket, and the two ways of not reaching the daemon: it is not running, or we may not talk to it.</summary>
[Trait("Category", "Integration")]
public sealed class ConnectionTests : IDisposable
{
    private const string Nobody = "65534";

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tscli-conn-");

    public ConnectionTests()
    {
        // Another user must be able to reach the socket inside; the socket's own mode is what the tests vary.
        File.SetUnixFileMode(_dir.FullName, (UnixFileMode)0b111_101_101);
    }

    private string SocketPath => Path.Combine(_dir.FullName, "control.sock");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task Show_NoSocketFile_ExitsSixtyNineNamingThePath()
    {
        var result = await CliRun.InProcessAsync("--socket", SocketPath, "show");

        Assert.Equal(69, result.ExitCode);
        Assert.Equal($"error: transparentsocksd is not running (no control socket at {SocketPath})\n", result.Error);
    }

    [Fact]
    public async Task Show_NoSocketDirectory_ExitsSixtyNine()
    {
        var path = Path.Combine(_dir.FullName, "missing", "control.sock");

        var result = await CliRun.InProcessAsync("--socket", path, "show");

        Assert.Equal(69, result.ExitCode);
    }

    [Fact]
    public async Task Show_SocketPathThroughAFile_ExitsSixtyNine()
    {
        var file = Path.Combine(_dir.FullName, "file");
        await File.WriteAllTextAsync(file, "not a directory");

        var result = await CliRun.InProcessAsync("--socket", Path.Combine(file, "control.sock"), "show");

        Assert.Equal(69, result.ExitCode);
    }

    [Fact]
    public async Task Show_PathIsARegularFile_ExitsSixtyNine()
    {
        await File.WriteAllTextAsync(SocketPath, "left behind");

        var result = await CliRun.InProcessAsync("--socket", SocketPath, "show");

        Assert.True(result.ExitCode == 69, result.ToString());
    }

    [Fact]
    public async Task Show_StaleSocketNobodyListens_ExitsSixtyNine()
    {
        // Bound but never listening, as after a crash. (.NET unlinks the file when a bound socket is disposed, so it stays open.)
        using var bound = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        bound.Bind(new UnixDomainSocketEndPoint(SocketPath));

        var result = await CliRun.InProcessAsync("--socket", SocketPath, "show");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains("transparentsocksd is not running", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_PathTooLongForASocket_ExitsTwo()
    {
        var result = await CliRun.InProcessAsync("--socket", "/tmp/" + new string('x', 200), "show");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot be a Unix socket path", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlClient_DaemonNeverAnswers_TimesOutWithExitOne()
    {
        // The kernel completes the connection from the backlog; nothing ever reads or answers.
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        silent.Bind(new UnixDomainSocketEndPoint(SocketPath));
        silent.Listen(4);
        using var client = new Client.ControlClient(SocketPath, TimeSpan.FromMilliseconds(300));

        var reply = await client.SendAsync(HttpMethod.Get, ControlApi.Status, null, CancellationToken.None);

        Assert.Equal(1, reply.ExitCode);
        Assert.Equal($"transparentsocksd did not answer within 0.3 s (control socket {SocketPath})", reply.ErrorMessage);
    }

    [Fact]
    public async Task Process_NoSocket_ExitsSixtyNine()
    {
        var result = await CliRun.ProcessAsync("--socket", SocketPath, "show");

        Assert.Equal(69, result.ExitCode);
        Assert.Contains($"transparentsocksd is not running (no control socket at {SocketPath})", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_SocketFromEnvironment_IsUsedWithoutOption()
    {
        await using var stub = StubControlServer.Start(SocketPath);
        stub.On(HttpMethod.Get, ControlApi.Server, StubReply.Ok(Canned.Server, ControlJsonContext.Default.ServerInfo));

        var result = await ExternalProcess.RunAsync(
            "env",
            [$"{Commands.GlobalOptions.SocketVariable}={SocketPath}", "dotnet", CliRun.DllPath, "show", "server"],
            TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == 0, $"{result.ExitCode}\n{result.Output}\n{result.Error}");
        Assert.Equal(ControlApi.Server, stub.SingleRequest().Target);
    }

    [Fact]
    public async Task Process_RootOwnedSocketMode0600AsNobody_ExitsSeventySeven()
    {
        await using var stub = StubControlServer.Start(SocketPath);
        stub.On(HttpMethod.Get, ControlApi.Server, StubReply.Ok(Canned.Server, ControlJsonContext.Default.ServerInfo));

        if (!Environment.IsPrivilegedProcess)
        {
            // Without root there is no other user to become; a socket we own but may not write refuses us the same way.
            File.SetUnixFileMode(SocketPath, UnixFileMode.None);
            var denied = await CliRun.InProcessAsync("--socket", SocketPath, "show", "server");

            Assert.Equal(77, denied.ExitCode);
            Assert.Empty(stub.Requests);
            return;
        }

        // First the control: with a mode that allows it, nobody runs the CLI and reaches the stub.
        File.SetUnixFileMode(SocketPath, (UnixFileMode)0b110_110_110);
        var allowed = await RunAsNobodyAsync("--socket", SocketPath, "show", "server");
        Assert.True(allowed.ExitCode == 0, $"as nobody with mode 0666: {allowed.ExitCode}\n{allowed.Output}\n{allowed.Error}");
        Assert.Single(stub.Requests);

        File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var result = await RunAsNobodyAsync("--socket", SocketPath, "show", "server");

        Assert.True(result.ExitCode == 77, $"{result.ExitCode}\n{result.Output}\n{result.Error}");
        Assert.Equal(
            $"error: permission denied on {SocketPath}: run as root or as a member of group 'transparentsocks'\n",
            result.Error);
        Assert.Single(stub.Requests);
    }

    /// <summary>
    /// Runs a copy of the CLI as uid/gid 65534 with no supplementary groups. The copy sits in a world-readable
    /// directory because the build output may be under a directory that nobody cannot enter.
    /// </summary>
    private async Task<ProcessResult> RunAsNobodyAsync(params string[] args)
    {
        var setpriv = new[] { "/usr/bin/setpriv", "/bin/setpriv" }.FirstOrDefault(File.Exists);
        Assert.True(setpriv is not null, "setpriv (util-linux) is needed to run the CLI as another user");
        var app = Directory.CreateDirectory(Path.Combine(_dir.FullName, "app"));
        File.SetUnixFileMode(app.FullName, (UnixFileMode)0b111_101_101);
        var source = Path.GetDirectoryName(CliRun.DllPath)!;
        foreach (var name in new[] { "transparentsocks.dll", "transparentsocks.runtimeconfig.json", "transparentsocks.deps.json", "System.CommandLine.dll", "TransparentSocks.Core.dll" })
        {
            var target = Path.Combine(app.FullName, name);
            File.Copy(Path.Combine(source, name), target, overwrite: true);
            File.SetUnixFileMode(target, (UnixFileMode)0b110_100_100);
        }

        return await ExternalProcess.RunAsync(
            setpriv,
            ["--reuid=" + Nobody, "--regid=" + Nobody, "--clear-groups", "dotnet", Path.Combine(app.FullName, "transparentsocks.dll"), .. args],
            TimeSpan.FromSeconds(60));
    }
}
