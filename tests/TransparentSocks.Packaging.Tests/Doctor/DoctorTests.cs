using System.Net;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Packaging.Tests.Doctor;

/// <summary><c>transparentsocks doctor</c> as a process inside a gateway namespace of the test's own, against microsocks.</summary>
[Trait("Category", "Integration")]
public sealed class DoctorTests
{
    private static string CliDll => typeof(TransparentSocks.Cli.Doctor.DoctorCommand).Assembly.Location;

    private sealed class Gateway : IAsyncDisposable
    {
        private Gateway(NetworkNamespace ns, Microsocks upstream, string directory)
        {
            Namespace = ns;
            Upstream = upstream;
            Directory = directory;
        }

        public NetworkNamespace Namespace { get; }

        public Microsocks Upstream { get; }

        public string Directory { get; }

        public static async Task<Gateway> CreateAsync(bool forwarding)
        {
            var ns = await NetworkNamespace.CreateAsync("tspkg-dr");
            try
            {
                await ns.ExecOrThrowAsync("ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0peer");
                await ns.ExecOrThrowAsync("ip", "link", "set", "lan0", "up");
                await ns.ExecOrThrowAsync("sysctl", "-qw", $"net.ipv4.ip_forward={(forwarding ? 1 : 0)}", "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.lan0.rp_filter=2");
                var upstream = await Microsocks.StartAsync(IPAddress.Loopback, "gw", "gw-secret", ns.Name);
                return new Gateway(ns, upstream, System.IO.Directory.CreateTempSubdirectory("tspkg-doctor-").FullName);
            }
            catch
            {
                await ns.DisposeAsync();
                throw;
            }
        }

        public async Task<ProcessResult> DoctorAsync(string password, string iface = "lan0")
        {
            var config = Path.Combine(Directory, "config.json");
            await File.WriteAllTextAsync(config, $$"""
                {
                  "upstream": { "address": "{{Upstream.EndPoint}}", "username": "gw", "password": "{{password}}" },
                  "transparent": { "enabled": true, "ipv6": false, "interfaces": [ { "name": "{{iface}}" } ] }
                }
                """);
            return await Namespace.ExecAsync(TimeSpan.FromSeconds(60), "dotnet", CliDll, "doctor", "--config", config, "--socket", Path.Combine(Directory, "absent.sock"));
        }

        public async ValueTask DisposeAsync()
        {
            await Upstream.DisposeAsync();
            await Namespace.DisposeAsync();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    [Fact]
    public async Task Doctor_HealthyGateway_PassesEveryCheckAndExitsZero()
    {
        await using var gateway = await Gateway.CreateAsync(forwarding: true);

        var result = await gateway.DoctorAsync("gw-secret");

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        Assert.Contains("ok    nft-tproxy", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok    ip-forward", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok    rp_filter lan0", result.Output, StringComparison.Ordinal);
        Assert.Contains("ok    nft-conflicts", result.Output, StringComparison.Ordinal);
        Assert.Contains($"ok    upstream         {gateway.Upstream.EndPoint} accepts the credentials of user gw", result.Output, StringComparison.Ordinal);
        Assert.Contains("doctor: no problems found", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_BrokenGateway_FailsWithOneExplainedLinePerProblem()
    {
        await using var gateway = await Gateway.CreateAsync(forwarding: false);

        // Another table that sends TCP to our divert port.
        await gateway.Namespace.ExecOrThrowAsync("nft", "add table ip other; add chain ip other pre { type filter hook prerouting priority mangle; }; add rule ip other pre meta l4proto tcp tproxy to :12345");

        var result = await gateway.DoctorAsync("wrong-password", iface: "nosuch0");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("FAIL  ip-forward       net.ipv4.ip_forward is 0", result.Output, StringComparison.Ordinal);
        Assert.Contains("FAIL  iface nosuch0    nosuch0 does not exist", result.Output, StringComparison.Ordinal);
        Assert.Contains("FAIL  nft-conflicts    ip other also divert to port 12345", result.Output, StringComparison.Ordinal);
        Assert.Contains("rejects the credentials of user gw", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", result.Output + result.Error, StringComparison.Ordinal);
        Assert.Contains("doctor: 4 check(s) failed", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_UpstreamDown_SaysItCannotReachIt()
    {
        await using var ns = await NetworkNamespace.CreateAsync("tspkg-dr");
        var directory = Directory.CreateTempSubdirectory("tspkg-doctor-").FullName;
        try
        {
            var config = Path.Combine(directory, "config.json");
            await File.WriteAllTextAsync(config, """{ "upstream": { "address": "127.0.0.1:9" } }""");

            var result = await ns.ExecAsync(TimeSpan.FromSeconds(60), "dotnet", CliDll, "doctor", "--config", config, "--socket", Path.Combine(directory, "absent.sock"));

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("FAIL  upstream         cannot reach 127.0.0.1:9", result.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
