using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Control;
using TransparentSocks.Daemon.Tests.Transparent;
using TransparentSocks.TestSupport;
using TransparentSocks.TestSupport.Lab;
using Xunit.Abstractions;
using ControlCli = TransparentSocks.Daemon.Tests.Control.Cli;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// An interface whose upstream is a group, on the real transparent path: client ns → gateway ns (transparentsocksd,
/// real nft TPROXY and policy routing, the group's members) → target ns. Each member leaves from an address of its
/// own on the gateway's target side (microsocks <c>-b</c>), so the target tells which member carried a connection.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UpstreamGroupTransparentTests(ITestOutputHelper output)
{
    private const string Group = "pool";
    private const string Primary = "primary";
    private const string Backup = "backup";

    // Every client stream is bounded in count and in time.
    private const int MaxStreamConnections = 400;
    private static readonly TimeSpan MaxStreamTime = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan StreamGap = TimeSpan.FromMilliseconds(40);

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(15);
    private static readonly ControlJsonContext J = ControlJsonContext.Default;

    private static readonly IPAddress PrimarySource = IPAddress.Parse("203.0.113.11");
    private static readonly IPAddress BackupSource = IPAddress.Parse("203.0.113.12");

    private readonly ITestOutputHelper _output = output;

    [Fact]
    public async Task Failover_PrimaryKilledMidStream_NewConnectionsTakeTheBackupAndReturnAfterItsChecks()
    {
        var interval = TimeSpan.FromSeconds(1);
        var checkTimeout = TimeSpan.FromSeconds(0.5);
        const int successes = 2;

        await using var lab = await GatewayLab.CreateAsync("tsgt-fo");
        await AddMemberSourcesAsync(lab);
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via group\n", port: 80));
        var primary = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: PrimarySource);
        var primaryPort = primary.EndPoint.Port;
        try
        {
            await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: BackupSource);
            await using var daemon = await NamespacedDaemon.StartAsync(
                lab.Gateway, GroupConfig(lab, primary.EndPoint, backup.EndPoint, interval, checkTimeout, failures: 2, successes));
            var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

            var clock = Stopwatch.StartNew();
            using var stop = new CancellationTokenSource();
            var stream = new ClientStream(lab, target, clock);
            var running = stream.RunAsync(stop.Token);
            try
            {
                Assert.True(await Poll.UntilAsync(() => stream.CarriedBy(PrimarySource).Count >= 3 || running.IsCompleted, StepTimeout), stream.Describe() + daemon.Log);

                // Mid-stream, as a crash would.
                var killed = clock.Elapsed;
                await CrashAsync(primary.Process);
                var down = await WhenLoggedAsync(daemon, clock, $"upstream {Primary} is down", StepTimeout);
                Assert.True(await Poll.UntilAsync(() => stream.StartedAfter(killed).Count >= 8 || running.IsCompleted, StepTimeout), stream.Describe());

                // Back where it was, with the same source address; only the checker may bring it back.
                await primary.DisposeAsync();
                var restarting = clock.Elapsed;
                primary = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, port: primaryPort, bind: PrimarySource);
                var restarted = clock.Elapsed;
                var up = await WhenLoggedAsync(daemon, clock, $"upstream {Primary} is up again", StepTimeout);
                Assert.True(
                    await Poll.UntilAsync(() => stream.StartedAfter(restarted).Count(a => a.Carrier?.Equals(PrimarySource) == true) >= 3 || running.IsCompleted, StepTimeout),
                    stream.Describe());

                stop.Cancel();
                await running;
                var attempts = stream.Attempts;

                // Every new connection after the kill succeeded, on the backup, until the primary was back.
                var afterKill = attempts.Where(a => a.Start >= killed && a.Start < restarting).ToList();
                Assert.NotEmpty(afterKill);
                Assert.All(afterKill, a => Assert.True(a.Succeeded && BackupSource.Equals(a.Carrier), $"{a}\n{stream.Describe()}"));
                var first = afterKill.MinBy(a => a.End)!;
                var firstOnBackup = first.End - killed;
                _output.WriteLine($"failover: kill -> first successful new connection {firstOnBackup.TotalMilliseconds:0} ms "
                    + $"(it started {(first.Start - killed).TotalMilliseconds:0} ms after the kill and took {first.Elapsed.TotalMilliseconds:0} ms); "
                    + $"kill -> primary marked down {(down - killed).TotalMilliseconds:0} ms; slowest new connection after the kill {afterKill.Max(a => a.Elapsed).TotalMilliseconds:0} ms");
                Assert.True(firstOnBackup <= interval + checkTimeout, $"first new connection on the backup {firstOnBackup} after the kill");
                Assert.True(down - killed <= interval + checkTimeout, $"primary marked down {down - killed} after the kill");

                // No client waited longer than the connect timeout, whatever it got (one in flight at the kill may
                // have lost its session with the primary).
                Assert.All(attempts, a => Assert.True(a.Elapsed < ConnectTimeout, a.ToString()));
                foreach (var lost in attempts.Where(a => !a.Succeeded))
                {
                    Assert.True(lost.Start < killed && lost.End >= killed, $"only a connection in flight at the kill may fail: {lost}");
                    _output.WriteLine($"in flight at the kill: {lost}");
                }

                // Back on the primary once `successes` checks passed: not on the first, and by the last.
                var firstBack = attempts.Where(a => a.Start >= restarted && PrimarySource.Equals(a.Carrier)).Min(a => a.Start);
                var stillOnBackup = attempts.Where(a => a.Start >= restarted && a.Start < up - TimeSpan.FromMilliseconds(100)).ToList();
                Assert.All(stillOnBackup, a => Assert.True(a.Succeeded && BackupSource.Equals(a.Carrier), $"before the primary was up again: {a}"));
                _output.WriteLine($"restart -> primary up {(up - restarted).TotalMilliseconds:0} ms, -> first connection on it {(firstBack - restarted).TotalMilliseconds:0} ms");
                // The lower bound counts from before the start: microsocks listens (and passes a check) before
                // StartAsync returns, which on a loaded machine can take most of an interval.
                Assert.True(up - restarting >= (successes - 1) * interval - TimeSpan.FromMilliseconds(250), $"primary up {up - restarting} after its start began, before {successes} checks");
                Assert.True(up - restarted <= successes * interval + checkTimeout + TimeSpan.FromSeconds(1), $"primary up {up - restarted} after its restart");
                Assert.True(firstBack - up <= TimeSpan.FromSeconds(1), $"first connection on the primary {firstBack - up} after it was up");

                // show upstreams tells the story: the primary is up, was refused, and each member carried connections.
                var upstreams = (await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
                var group = Assert.Single(upstreams, u => u.Name == Group);
                var member = Assert.Single(group.Members!, m => m.Name == Primary);
                Assert.Equal("up", member.State);
                Assert.True(member.Failures["refused"] >= 2, string.Join(", ", member.Failures));
                Assert.NotNull(member.LastChange);
                Assert.Equal("up", Assert.Single(group.Members!, m => m.Name == Backup).State);
                var viaPrimary = Assert.Single(upstreams, u => u.Name == Primary).Connections;
                var viaBackup = Assert.Single(upstreams, u => u.Name == Backup).Connections;
                Assert.Equal(attempts.Count(a => BackupSource.Equals(a.Carrier)), viaBackup);
                Assert.InRange(viaPrimary, attempts.Count(a => PrimarySource.Equals(a.Carrier)), attempts.Count(a => PrimarySource.Equals(a.Carrier) || !a.Succeeded));
                Assert.Equal(viaPrimary + viaBackup, group.Connections);
            }
            finally
            {
                await stop.CancelAsync();
                await running;
            }
        }
        finally
        {
            await primary.DisposeAsync();
        }
    }

    [Fact]
    public async Task HttpConnectMember_WrongPassword_IsDownWithReasonAuthAndTheBackupCarries()
    {
        await using var lab = await GatewayLab.CreateAsync("tsgt-h407");
        await AddMemberSourcesAsync(lab);
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via group\n", port: 80));
        await using var office = await Tinyproxy.StartAsync(IPAddress.Loopback, user: "tsgt-user", pass: "tsgt-right", bind: PrimarySource, networkNamespace: lab.Gateway.Name);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: BackupSource);
        // An HTTP proxy has no handshake of its own, so the check CONNECTs to a target to test the credentials.
        var checkTarget = $$""", "target": "{{lab.TargetV4}}:80" """;
        var config = GroupConfig(lab, office.EndPoint, backup.EndPoint, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(0.5), failures: 2, successes: 2, checkTarget)
            .Replace(
                $$"""{ "name": "{{Primary}}", "address": "{{TransparentLab.Format(office.EndPoint)}}" }""",
                $$"""{ "name": "{{Primary}}", "address": "{{TransparentLab.Format(office.EndPoint)}}", "protocol": "http", "username": "tsgt-user", "password": "tsgt-wrong" }""",
                StringComparison.Ordinal);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        // Every connection gets through, on the backup: the refusal is the member's, so the dial moves on.
        const int connections = 4;
        for (var i = 0; i < connections; i++)
        {
            var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/wrong{i}");
            Assert.True(result.ExitCode == 0, $"{result.Error}\n{daemon.Log}\n{office.Log}");
        }

        Assert.All(target.Requests, r => Assert.Equal(BackupSource, r.Client.Address));

        // Refused credentials are the member's health, and say so: down, reason auth, as after a 407.
        Assert.True(await Poll.UntilAsync(() => daemon.Log.Contains($"upstream {Primary} is down (auth)", StringComparison.Ordinal), StepTimeout), daemon.Log + office.Log);
        var member = await MemberAsync(socket, Primary);
        Assert.Equal("down", member.State);
        Assert.Equal("auth", member.Reason);
        Assert.Contains("answered 401 (credentials refused)", member.Detail, StringComparison.Ordinal);
        Assert.True(member.Failures["auth"] >= 2 && member.Failures["target"] == 0, string.Join(", ", member.Failures));
        Assert.Equal(connections, Assert.Single((await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams, u => u.Name == Backup).Connections);
        Assert.DoesNotContain("tsgt-wrong", daemon.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PassiveDetection_ChecksAMinuteApart_PrimaryKilled_NewConnectionsMoveWithinTwoSeconds()
    {
        var interval = TimeSpan.FromSeconds(60);
        const int failures = 2;
        var moveWithin = TimeSpan.FromSeconds(2);

        await using var lab = await GatewayLab.CreateAsync("tsgt-pd");
        await AddMemberSourcesAsync(lab);
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via group\n", port: 80));
        await using var primary = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: PrimarySource);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: BackupSource);
        await using var daemon = await NamespacedDaemon.StartAsync(
            lab.Gateway, GroupConfig(lab, primary.EndPoint, backup.EndPoint, interval, TimeSpan.FromSeconds(1), failures, successes: 2));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var stream = new ClientStream(lab, target, clock);
        var running = stream.RunAsync(stop.Token);
        GroupMemberInfo checkedBefore;
        TimeSpan killed, down;
        try
        {
            Assert.True(await Poll.UntilAsync(() => stream.CarriedBy(PrimarySource).Count >= 3 || running.IsCompleted, StepTimeout), stream.Describe() + daemon.Log);

            // The first round of checks ran at start; the next is a minute away, so only real dials can notice.
            checkedBefore = await MemberAsync(socket, Primary);
            killed = clock.Elapsed;
            await CrashAsync(primary.Process);
            down = await WhenLoggedAsync(daemon, clock, $"upstream {Primary} is down (refused)", StepTimeout);
            Assert.True(await Poll.UntilAsync(() => stream.StartedAfter(down).Count >= 5 || running.IsCompleted, StepTimeout), stream.Describe());
        }
        finally
        {
            await stop.CancelAsync();
            await running;
        }

        var afterKill = stream.Attempts.Where(a => a.Start >= killed).ToList();
        _output.WriteLine($"passive: kill -> primary marked down {(down - killed).TotalMilliseconds:0} ms, "
            + $"-> first successful new connection {(afterKill.Min(a => a.End) - killed).TotalMilliseconds:0} ms");
        Assert.True(down - killed <= moveWithin, $"primary marked down {down - killed} after the kill");
        // Every new connection after the kill moved (the first ones by a retry on the backup within their own dial),
        // and none waited the connect timeout.
        Assert.All(afterKill, a => Assert.True(a.Succeeded && BackupSource.Equals(a.Carrier) && a.Elapsed < ConnectTimeout, $"{a}\n{stream.Describe()}"));

        // Passive only: no check ran since, the failures that marked it down were real dials, and once down it was
        // not tried again (its refusals stop at the threshold while the stream went on).
        var after = await MemberAsync(socket, Primary);
        Assert.Equal("down", after.State);
        Assert.Equal("refused", after.Reason);
        Assert.Equal(checkedBefore.Checks, after.Checks);
        Assert.Equal(0, after.CheckFailures);
        // A dial in flight at the kill fails in its handshake rather than at connect, so the failures that marked it
        // down are refusals with at most that one handshake failure among them; their sum is the threshold exactly.
        var failureCounts = string.Join(", ", after.Failures);
        Assert.True(after.Failures["refused"] >= 1 && after.Failures["refused"] + after.Failures["handshake"] == failures, failureCounts);
        Assert.Equal(failures, after.Failures.Values.Sum());
    }

    [Fact]
    public async Task WholeGroupRefusing_ClientsAreResetAtOnceAndTheFailuresAreCounted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsgt-rf");
        await AddMemberSourcesAsync(lab);
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via group\n", port: 80));
        await using var primary = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: PrimarySource);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: BackupSource);
        await using var daemon = await NamespacedDaemon.StartAsync(
            lab.Gateway, GroupConfig(lab, primary.EndPoint, backup.EndPoint, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(0.5), failures: 2, successes: 2));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);
        var before = await FetchAsync(lab, "/before");
        Assert.True(before.Outcome == Outcome.Answered, before + daemon.Log);

        foreach (var member in new[] { primary, backup })
        {
            await CrashAsync(member.Process);
        }

        // Before the checks noticed (both still up) and after (both down, tried anyway): reset either way.
        const int clients = 6;
        var results = new List<Fetch>();
        for (var i = 0; i < clients; i++)
        {
            results.Add(await FetchAsync(lab, $"/down{i}"));
        }

        await WhenLoggedAsync(daemon, Stopwatch.StartNew(), $"upstream {Backup} is down", StepTimeout);
        results.AddRange(await Task.WhenAll(Enumerable.Range(0, clients).Select(i => FetchAsync(lab, $"/down-together{i}"))));

        Assert.All(results, r => Assert.True(r.Outcome == Outcome.Reset && r.Elapsed < ConnectTimeout, r + daemon.Log));
        _output.WriteLine($"whole group refusing: slowest reset {results.Max(r => r.Elapsed).TotalMilliseconds:0} ms");
        Assert.Single(target.Requests);

        var iface = await ControlCli.JsonAsync(socket, J.InterfaceInfo, "show", "interface", lab.ClientInterface);
        Assert.Equal($"group:{Group}", iface.Proxy);
        Assert.Equal(results.Count, iface.ConnectFailures);
        Assert.True(iface.Failures.GetValueOrDefault("upstream_unavailable") == results.Count, $"{string.Join(", ", iface.Failures)}\n{daemon.Log}");
        var upstreams = (await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        var group = Assert.Single(upstreams, u => u.Name == Group);
        Assert.Equal(results.Count, group.Failures);
        Assert.Equal(1, group.Connections);
        Assert.All(group.Members!, m =>
        {
            Assert.Equal("down", m.State);
            Assert.Equal("refused", m.Reason);
            Assert.True(m.Failures["refused"] >= 2, string.Join(", ", m.Failures));
        });
    }

    [Fact]
    public async Task WholeGroupSilent_ClientsAreResetWithinTheConnectTimeoutAndTheFailuresAreCounted()
    {
        await using var lab = await GatewayLab.CreateAsync("tsgt-sl");
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via group\n", port: 80));
        await using var primary = SilentUpstream.Start(lab.Gateway);
        await using var backup = SilentUpstream.Start(lab.Gateway);
        await using var daemon = await NamespacedDaemon.StartAsync(
            lab.Gateway, GroupConfig(lab, primary.EndPoint, backup.EndPoint, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(0.5), failures: 2, successes: 2));
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        // Members accept and never answer: the whole dial, retries included, ends at the connect timeout.
        const int clients = 4;
        var results = await Task.WhenAll(Enumerable.Range(0, clients).Select(i => FetchAsync(lab, $"/silent{i}")));

        var slack = TimeSpan.FromSeconds(1);
        Assert.All(results, r => Assert.True(r.Outcome == Outcome.Reset && r.Elapsed < ConnectTimeout + slack, r + daemon.Log));
        _output.WriteLine($"whole group silent: resets after {string.Join(", ", results.Select(r => r.Elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)))} ms");
        Assert.Empty(target.Requests);

        // The budget ran out inside the first member's dial: the failure is a timeout that says so, not an empty one.
        Assert.Equal(clients, TransparentLab.Count(daemon.Log, $"failed: timeout: group:{Group}: no member answered within {Seconds(ConnectTimeout)} s"));
        var iface = await ControlCli.JsonAsync(socket, J.InterfaceInfo, "show", "interface", lab.ClientInterface);
        Assert.Equal(clients, iface.ConnectFailures);
        Assert.True(iface.Failures.GetValueOrDefault("timeout") == clients, $"{string.Join(", ", iface.Failures)}\n{daemon.Log}");
        var group = Assert.Single((await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams, u => u.Name == Group);
        Assert.Equal(clients, group.Failures);
        Assert.True(await Poll.UntilAsync(() => daemon.Log.Contains($"upstream {Primary} is down", StringComparison.Ordinal), StepTimeout), daemon.Log);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HttpConnectMember_CarriesTheTransparentPath_WithAndWithoutBasicAuth(bool auth)
    {
        const string user = "tsgt-user";
        const string password = "tsgt-Pass-7f3e";
        await using var lab = await GatewayLab.CreateAsync("tsgt-http");
        await AddMemberSourcesAsync(lab);
        await using var target = lab.Target.CreateInside(() => new HttpTarget(IPAddress.Any, "via http connect\n", port: 80));
        await using var office = await Tinyproxy.StartAsync(
            IPAddress.Loopback, user: auth ? user : null, pass: auth ? password : null, bind: PrimarySource, networkNamespace: lab.Gateway.Name);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, networkNamespace: lab.Gateway.Name, bind: BackupSource);
        using var secrets = new TemporaryDirectory();
        var credentials = "";
        if (auth)
        {
            var passwordFile = Path.Combine(secrets.Path, "office.password");
            await File.WriteAllTextAsync(passwordFile, password + "\n");
            credentials = $$""", "username": "{{user}}", "passwordFile": "{{passwordFile}}" """;
        }

        var config = GroupConfig(lab, office.EndPoint, backup.EndPoint, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(0.5), failures: 2, successes: 2)
            .Replace(
                $$"""{ "name": "{{Primary}}", "address": "{{TransparentLab.Format(office.EndPoint)}}" }""",
                $$"""{ "name": "{{Primary}}", "address": "{{TransparentLab.Format(office.EndPoint)}}", "protocol": "http" {{credentials}} }""",
                StringComparison.Ordinal);
        await using var daemon = await NamespacedDaemon.StartAsync(lab.Gateway, config);
        var socket = DaemonProcess.ControlSocketOf(daemon.ConfigPath);

        const int connections = 3;
        for (var i = 0; i < connections; i++)
        {
            var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}/http{i}");
            Assert.True(result.ExitCode == 0, $"{result.Error}\n{daemon.Log}\n{office.Log}");
            Assert.Equal("via http connect\n", result.Output);
        }

        // tinyproxy carried every one, asked by address for the original destination; the backup none.
        Assert.All(target.Requests, r => Assert.Equal(PrimarySource, r.Client.Address));
        Assert.Equal(connections, target.Requests.Count);
        Assert.Equal(connections, TransparentLab.Count(office.Log, $"CONNECT {lab.TargetV4}:80 "));
        Assert.Equal(connections, office.EstablishedConnections);
        Assert.DoesNotContain("connected to", backup.Log, StringComparison.Ordinal);

        var upstreams = (await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        var http = Assert.Single(upstreams, u => u.Name == Primary);
        Assert.Equal("http", http.Kind);
        Assert.Equal(connections, http.Connections);
        Assert.Equal(0, http.Failures);
        Assert.Equal(auth, http.HasPassword);
        Assert.Equal(auth ? user : null, http.Username);
        Assert.Equal(0, Assert.Single(upstreams, u => u.Name == Backup).Connections);
        var member = Assert.Single(Assert.Single(upstreams, u => u.Name == Group).Members!, m => m.Name == Primary);
        Assert.Equal("up", member.State);
        Assert.True(member.Checks >= 1 && member.CheckFailures == 0, $"{member.Checks} checks, {member.CheckFailures} failed");
        Assert.DoesNotContain(password, daemon.Log, StringComparison.Ordinal);
    }

    private static async Task<GroupMemberInfo> MemberAsync(string socket, string name)
    {
        var group = Assert.Single((await ControlCli.JsonAsync(socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams, u => u.Name == Group);
        return Assert.Single(group.Members!, m => m.Name == name);
    }

    /// <summary>SIGKILL by PID, as a crash would: nothing of the program's cleanup runs. Returns once it is gone.</summary>
    private static async Task CrashAsync(ExternalProcess process)
    {
        using (var running = System.Diagnostics.Process.GetProcessById(process.Pid))
        {
            running.Kill();
        }

        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(10)), process.Describe());
    }

    /// <summary>The members' own source addresses on the gateway's target side, for microsocks <c>-b</c>.</summary>
    private static async Task AddMemberSourcesAsync(GatewayLab lab)
    {
        foreach (var address in new[] { PrimarySource, BackupSource })
        {
            await lab.Gateway.ExecOrThrowAsync("ip", "addr", "add", $"{address}/24", "dev", lab.TargetInterface);
        }
    }

    private static string GroupConfig(
        GatewayLab lab, IPEndPoint primary, IPEndPoint backup, TimeSpan interval, TimeSpan timeout, int failures, int successes, string extraHealth = "")
        => $$"""
            {
              "upstream": { "connectTimeout": {{Seconds(ConnectTimeout)}} },
              "upstreams": [
                { "name": "{{Primary}}", "address": "{{TransparentLab.Format(primary)}}" },
                { "name": "{{Backup}}", "address": "{{TransparentLab.Format(backup)}}" }
              ],
              "groups": [
                { "name": "{{Group}}", "policy": "failover", "members": [ "{{Primary}}", "{{Backup}}" ],
                  "healthCheck": { "interval": {{Seconds(interval)}}, "timeout": {{Seconds(timeout)}}, "failures": {{failures}}, "successes": {{successes}} {{extraHealth}} } }
              ],
              "transparent": { "enabled": true, "mode": "tproxy", "port": {{TransparentLab.DivertPort}},
                               "interfaces": [ { "name": "{{lab.ClientInterface}}", "upstream": "{{Group}}" } ] },
              "logging": { "level": "information" }
            }
            """;

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Polls the daemon's log for <paramref name="text"/> and returns when (on <paramref name="clock"/>) it appeared.</summary>
    private static async Task<TimeSpan> WhenLoggedAsync(NamespacedDaemon daemon, Stopwatch clock, string text, TimeSpan timeout)
    {
        var deadline = clock.Elapsed + timeout;
        while (!daemon.Log.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < deadline, $"'{text}' not logged within {timeout}:\n{daemon.Log}");
            await Task.Delay(10);
        }

        return clock.Elapsed;
    }

    private enum Outcome
    {
        Answered,
        Reset,
        Closed,
        Hung,
        Refused,
    }

    private sealed record Fetch(string Path, Outcome Outcome, TimeSpan Elapsed, string Detail)
    {
        public override string ToString() => $"{Path}: {Outcome} after {Elapsed.TotalMilliseconds:0} ms ({Detail})";
    }

    /// <summary>
    /// One HTTP GET from an in-process socket in the client ns, told apart by how it ended: an answer, a reset, a
    /// clean FIN with nothing, or nothing at all (hung) within the connect timeout and a few seconds more.
    /// </summary>
    private static async Task<Fetch> FetchAsync(GatewayLab lab, string path)
    {
        var clock = Stopwatch.StartNew();
        Socket client;
        try
        {
            client = await lab.ConnectFromClientAsync(new IPEndPoint(lab.TargetV4, 80));
        }
        catch (SocketException ex)
        {
            // The reset can beat our side's view of the handshake: the connect itself then reports it.
            return new Fetch(path, ex.SocketErrorCode == SocketError.ConnectionReset ? Outcome.Reset : Outcome.Refused, clock.Elapsed, $"connect: {ex.SocketErrorCode}");
        }

        using (client)
        {
            using var timeout = new CancellationTokenSource(ConnectTimeout + TimeSpan.FromSeconds(5));
            var received = new MemoryStream();
            try
            {
                await client.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {lab.TargetV4}\r\nConnection: close\r\n\r\n"), timeout.Token);
                var buffer = new byte[4096];
                while (true)
                {
                    var read = await client.ReceiveAsync(buffer, timeout.Token);
                    if (read == 0)
                    {
                        var text = Encoding.ASCII.GetString(received.ToArray());
                        return new Fetch(path, text.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) ? Outcome.Answered : Outcome.Closed, clock.Elapsed, text);
                    }

                    received.Write(buffer, 0, read);
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
            {
                return new Fetch(path, Outcome.Reset, clock.Elapsed, $"{ex.SocketErrorCode} after {received.Length} bytes");
            }
            catch (OperationCanceledException)
            {
                return new Fetch(path, Outcome.Hung, clock.Elapsed, $"{received.Length} bytes");
            }
        }
    }

    /// <summary>One connection of a stream: when it started (on the stream's clock), how curl ended, and who carried it.</summary>
    private sealed record Attempt(int Sequence, TimeSpan Start, TimeSpan Elapsed, int ExitCode, string Error, IPAddress? Carrier)
    {
        public bool Succeeded => ExitCode == 0;

        public TimeSpan End => Start + Elapsed;

        public override string ToString()
            => $"#{Sequence} at {Start.TotalMilliseconds:0} ms took {Elapsed.TotalMilliseconds:0} ms: exit {ExitCode} via {Carrier?.ToString() ?? "-"} {Error.Trim()}";
    }

    /// <summary>
    /// New curl connections from the client ns to the target, one after another, until stopped or bounded (count
    /// and time). Each asks for its own path, so the target's record of its source address names the member.
    /// </summary>
    private sealed class ClientStream(GatewayLab lab, HttpTarget target, Stopwatch clock)
    {
        private readonly ConcurrentQueue<Attempt> _attempts = new();

        public IReadOnlyList<Attempt> Attempts => [.. _attempts];

        public IReadOnlyList<Attempt> CarriedBy(IPAddress source) => [.. _attempts.Where(a => source.Equals(a.Carrier))];

        public IReadOnlyList<Attempt> StartedAfter(TimeSpan at) => [.. _attempts.Where(a => a.Start >= at)];

        public async Task RunAsync(CancellationToken stop)
        {
            var began = clock.Elapsed;
            for (var sequence = 0; sequence < MaxStreamConnections && clock.Elapsed - began < MaxStreamTime && !stop.IsCancellationRequested; sequence++)
            {
                var path = $"/s{sequence}";
                var start = clock.Elapsed;
                var result = await lab.CurlFromClientAsync($"http://{lab.TargetV4}{path}", "--max-time", "10");
                var elapsed = clock.Elapsed - start;
                var carrier = target.Requests.FirstOrDefault(r => r.Path == path)?.Client.Address;
                _attempts.Enqueue(new Attempt(sequence, start, elapsed, result.ExitCode, result.Error, carrier));
                try
                {
                    await Task.Delay(StreamGap, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public string Describe() => string.Join('\n', _attempts);
    }

    /// <summary>A directory of the test's own (password files), removed with everything in it.</summary>
    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tsgt-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    /// <summary>A TCP listener in a namespace that accepts and never says a word: an upstream that hangs.</summary>
    private sealed class SilentUpstream : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly ConcurrentBag<Socket> _held = [];
        private readonly Task _accepting;

        private SilentUpstream(Socket listener)
        {
            _listener = listener;
            EndPoint = (IPEndPoint)listener.LocalEndPoint!;
            _accepting = AcceptAsync();
        }

        public IPEndPoint EndPoint { get; }

        public static SilentUpstream Start(NetworkNamespace ns)
        {
            var listener = ns.CreateInside(() =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(IPAddress.Loopback, PortAllocator.GetFreeTcpPort(IPAddress.Loopback)));
                socket.Listen(64);
                return socket;
            });
            return new SilentUpstream(listener);
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    _held.Add(await _listener.AcceptAsync());
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Closed by DisposeAsync.
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _accepting;
            foreach (var socket in _held)
            {
                socket.Dispose();
            }
        }
    }
}
