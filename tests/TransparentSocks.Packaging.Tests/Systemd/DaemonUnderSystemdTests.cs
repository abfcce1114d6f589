using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Packaging.Tests.Systemd;

/// <summary>transparentsocksd as systemd runs it: a notify socket of the test's own, then --cleanup in a namespace.</summary>
[Trait("Category", "Integration")]
public sealed class DaemonUnderSystemdTests
{
    private static string DaemonDll => typeof(TransparentSocks.Daemon.Systemd.SdNotify).Assembly.Location;

    private static string WriteConfig(string directory, int port) =>
        WriteFile(directory, "config.json", $$"""
            {
              "server": { "enabled": true, "listen": "127.0.0.1:{{port}}" },
              "control": { "socket": "{{directory}}/control.sock" }
            }
            """);

    private static string WriteFile(string directory, string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<string?> ReceiveUntilAsync(Socket socket, string wanted, TimeSpan timeout, List<string> seen)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var length = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                var message = Encoding.UTF8.GetString(buffer, 0, length);
                seen.Add(message);
                if (message.Split('\n').Contains(wanted))
                {
                    return message;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Fact]
    public async Task Daemon_WithAbstractNotifySocket_SendsReadyWhenListeningThenWatchdogAndStopping()
    {
        var directory = Directory.CreateTempSubdirectory("tspkg-notify-").FullName;
        var name = $"tspkg-notify-{Guid.NewGuid():N}";
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint("\0" + name));
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        var config = WriteConfig(directory, port);
        var seen = new List<string>();
        var daemon = ExternalProcess.Start("env", [$"NOTIFY_SOCKET=@{name}", "WATCHDOG_USEC=400000", "dotnet", DaemonDll, "--config", config]);
        try
        {
            var ready = await ReceiveUntilAsync(notify, "READY=1", TimeSpan.FromSeconds(60), seen);
            Assert.True(ready is not null, $"no READY=1; got [{string.Join(" | ", seen)}]; daemon: {daemon.Output}{daemon.Error}");

            // READY must mean the listener is bound: connect at once, without retrying.
            using (var client = new Socket(SocketType.Stream, ProtocolType.Tcp))
            {
                await client.ConnectAsync(IPAddress.Loopback, port);
            }

            Assert.Contains("STATUS=0 interfaces, 0 sessions", ready, StringComparison.Ordinal);
            Assert.Contains($"MAINPID={daemon.Pid.ToString(CultureInfo.InvariantCulture)}", ready, StringComparison.Ordinal);
            Assert.NotNull(await ReceiveUntilAsync(notify, "WATCHDOG=1", TimeSpan.FromSeconds(5), seen));

            await ExternalProcess.RunOrThrowAsync("kill", ["-TERM", daemon.Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5));
            Assert.NotNull(await ReceiveUntilAsync(notify, "STOPPING=1", TimeSpan.FromSeconds(20), seen));
            Assert.True(await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the daemon did not stop");
            Assert.Equal(0, daemon.ExitCode);
        }
        finally
        {
            await daemon.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Daemon_WithoutNotifySocket_RunsAndStopsAsBefore()
    {
        var directory = Directory.CreateTempSubdirectory("tspkg-plain-").FullName;
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = ExternalProcess.Start("dotnet", [DaemonDll, "--config", WriteConfig(directory, port)]);
        try
        {
            Assert.True(await ListenProbe.WaitAsync(daemon, new IPEndPoint(IPAddress.Loopback, port), attempts: 150), daemon.Output + daemon.Error);

            // Interactive runs keep the readable console format.
            Assert.True(await daemon.WaitForTextAsync("[INF]", TimeSpan.FromSeconds(10)), daemon.Output + daemon.Error);
        }
        finally
        {
            await daemon.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Cleanup_AfterACrash_RemovesTheTableRulesAndRoutesOfTheConfig()
    {
        await using var ns = await NetworkNamespace.CreateAsync("tspkg-cl");
        var directory = Directory.CreateTempSubdirectory("tspkg-cleanup-").FullName;
        try
        {
            // What a SIGKILLed daemon leaves behind, with a non-default mark, table and priority from its config.
            await ns.ExecOrThrowAsync("nft", "add", "table", "inet", "transparentsocks");
            await ns.ExecOrThrowAsync("ip", "-4", "rule", "add", "fwmark", "0x77", "lookup", "177", "priority", "1777");
            await ns.ExecOrThrowAsync("ip", "-4", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "177");
            await ns.ExecOrThrowAsync("ip", "-6", "rule", "add", "fwmark", "0x77", "lookup", "177", "priority", "1777");
            var config = WriteFile(directory, "config.json", """{ "transparent": { "fwmark": "0x77", "routeTable": 177, "rulePriority": 1777 } }""");

            var result = await ns.ExecAsync(TimeSpan.FromSeconds(60), "dotnet", DaemonDll, "--config", config, "--cleanup");

            Assert.True(result.ExitCode == 0, result.Output + result.Error);
            Assert.NotEqual(0, (await ns.ExecAsync("nft", "list", "table", "inet", "transparentsocks")).ExitCode);
            Assert.DoesNotContain("lookup 177", (await ns.ExecOrThrowAsync("ip", "-4", "rule", "show")).Output, StringComparison.Ordinal);
            Assert.DoesNotContain("lookup 177", (await ns.ExecOrThrowAsync("ip", "-6", "rule", "show")).Output, StringComparison.Ordinal);
            Assert.Equal("", (await ns.ExecAsync("ip", "-4", "route", "show", "table", "177")).Output.Trim());

            // Again, with nothing left: ExecStopPost also runs after a clean stop.
            var again = await ns.ExecAsync(TimeSpan.FromSeconds(60), "dotnet", DaemonDll, "--config", config, "--cleanup");
            Assert.True(again.ExitCode == 0, again.Output + again.Error);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
