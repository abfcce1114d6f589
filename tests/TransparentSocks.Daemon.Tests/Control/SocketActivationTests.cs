using System.Globalization;
using System.Net;
using TransparentSocks.Control;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>
/// The control socket passed in by systemd (transparentsocks.socket), here through systemd-socket-activate, which
/// sets LISTEN_PID and LISTEN_FDS the way PID 1 does and starts the daemon on the first connection.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SocketActivationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PassedControlSocket_IsServed_AndItsOwnerModeAndFileAreLeftAsSystemdMadeThem()
    {
        var listen = new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback));
        var config = DaemonProcess.WriteConfig($$"""{ "server": { "enabled": true, "listen": "{{listen}}" } }""");
        var socket = DaemonProcess.ControlSocketOf(config);
        try
        {
            await using var activator = ExternalProcess.Start(
                "systemd-socket-activate", ["-l", socket, "dotnet", DaemonProcess.DaemonDll, "--config", config]);
            Assert.True(await Poll.UntilAsync(() => File.Exists(socket), Timeout), activator.Describe());

            // A mode the daemon would never choose itself (it makes root:GROUP 0660): proof that it left the file alone.
            await ExternalProcess.RunOrThrowAsync("chmod", ["0600", socket], Timeout);

            // The first connection is what starts the daemon, as with a real .socket unit.
            var status = await Cli.JsonAsync(socket, ControlJsonContext.Default.StatusResponse, "show");
            Assert.Equal(listen.ToString(), status.Server.Listen);
            Assert.True(await activator.WaitForTextAsync("passed by systemd", Timeout), activator.Describe());
            Assert.Equal("root:root 600", (await ExternalProcess.RunOrThrowAsync("stat", ["-c", "%U:%G %a", socket], Timeout)).Output.Trim());

            await ExternalProcess.RunOrThrowAsync("kill", ["-TERM", activator.Pid.ToString(CultureInfo.InvariantCulture)], Timeout);
            Assert.True(await activator.WaitForExitAsync(TimeSpan.FromSeconds(20)), activator.Describe());
            Assert.Equal(0, activator.ExitCode);

            // The file belongs to whoever created it (systemd removes it when the .socket unit stops).
            Assert.True(File.Exists(socket));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }
}
