using System.Diagnostics;
using System.Net;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using Xunit.Abstractions;
using static TransparentSocks.Daemon.Tests.Upstreams.UpstreamJson;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// A failover group as the server's outbound, over two real microsocks that dial from addresses of their own
/// (127.0.0.11, 127.0.0.12), so the target names the upstream of every connection. The primary is killed by pid
/// while new connections keep coming, then brought back on its port.
/// </summary>
[Trait("Category", "Integration")]
[Collection(UpstreamServerCollection.Name)]
public sealed class ServerFailoverTests(ITestOutputHelper output)
{
    private static readonly IPAddress PrimaryVia = IPAddress.Parse("127.0.0.11");
    private static readonly IPAddress BackupVia = IPAddress.Parse("127.0.0.12");
    private const double ConnectTimeout = 2;

    [Fact]
    public async Task Failover_PrimaryKilledDuringConnectionStream_BackupTakesOverWithinIntervalPlusTimeoutAndPrimaryReturnsAfterSuccessfulChecks()
    {
        var interval = TimeSpan.FromSeconds(1);
        var timeout = TimeSpan.FromSeconds(0.5);
        const int successes = 2;
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        var primary = await Microsocks.StartAsync(IPAddress.Loopback, bind: PrimaryVia);
        Microsocks? restarted = null;
        try
        {
            await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, bind: BackupVia);
            await using var daemon = await GroupDaemon.StartAsync(
                "pair",
                [Socks5("primary", primary.EndPoint), Socks5("backup", backup.EndPoint)],
                [Group("pair", "failover", ["primary", "backup"], interval.TotalSeconds, timeout.TotalSeconds, failures: 2, successes: successes)],
                ConnectTimeout);

            // Bounded: at most 3000 connections and 60 s, whichever ends first.
            await using var stream = new ConnectionStream(daemon.Server, target.EndPoint, maxConnections: 3000, maxDuration: TimeSpan.FromSeconds(60), pause: TimeSpan.FromMilliseconds(10));
            stream.Start();
            Assert.True(await stream.WaitUntilAsync(a => a.Count(x => Equals(x.Via, PrimaryVia)) >= 20, TimeSpan.FromSeconds(15)), Describe(stream.Attempts) + daemon.Log);

            Kill(primary);
            var killedAt = stream.Now;
            Assert.True(await stream.WaitUntilAsync(a => a.Count(x => x.Started > killedAt && Equals(x.Via, BackupVia)) >= 20, TimeSpan.FromSeconds(15)), Describe(stream.Attempts) + daemon.Log);
            await primary.DisposeAsync();

            // Back on the same port: the member is down, so only `successes` passing checks bring it back.
            restarted = await Microsocks.StartAsync(IPAddress.Loopback, port: primary.EndPoint.Port, bind: PrimaryVia);
            var restartedAt = stream.Now;
            Assert.True(await stream.WaitUntilAsync(a => a.Count(x => x.Started > restartedAt && Equals(x.Via, PrimaryVia)) >= 20, TimeSpan.FromSeconds(15)), Describe(stream.Attempts) + daemon.Log);
            var attempts = await stream.StopAsync();

            var firstOnBackup = attempts.Where(a => a.Answered > killedAt && a.Succeeded && Equals(a.Via, BackupVia)).Min(a => a.Answered);
            var returned = attempts.Where(a => a.Started > restartedAt && Equals(a.Via, PrimaryVia)).Min(a => a.Answered);
            var killToBackup = firstOnBackup - killedAt;
            var restartToPrimary = returned - restartedAt;
            var longestWait = attempts.Max(a => a.Waited);
            output.WriteLine($"kill -> first success on backup: {killToBackup.TotalMilliseconds:0.0} ms");
            output.WriteLine($"restart -> first connection on primary again: {restartToPrimary.TotalMilliseconds:0} ms (interval {interval.TotalMilliseconds} ms, successes {successes})");
            output.WriteLine($"{attempts.Count} connections, longest client wait {longestWait.TotalMilliseconds:0.0} ms, not succeeded: {attempts.Count(a => !a.Succeeded)}");

            // The backup took over within one interval plus one check timeout, and no client waited out the connect timeout.
            Assert.True(killToBackup <= interval + timeout, $"kill -> backup {killToBackup.TotalMilliseconds} ms");
            Assert.True(longestWait < TimeSpan.FromSeconds(ConnectTimeout), $"a client waited {longestWait.TotalMilliseconds} ms");

            // Every new connection got through; only the one in flight at the kill may have lost its tunnel.
            var broken = attempts.Where(a => !a.Succeeded).ToList();
            Assert.True(broken.Count <= 1 && broken.All(a => a.Started < killedAt + TimeSpan.FromMilliseconds(100) && a.Reply is null), Describe(broken));

            // Between the kill and the restart nothing went through the primary; after it, it returned only once
            // `successes` checks had passed (the second one an interval after the first), then took everything.
            Assert.DoesNotContain(attempts, a => a.Started > killedAt + TimeSpan.FromMilliseconds(100) && a.Answered < restartedAt && Equals(a.Via, PrimaryVia));
            Assert.True(restartToPrimary >= (successes - 1) * interval - TimeSpan.FromMilliseconds(100), $"back after {restartToPrimary.TotalMilliseconds} ms: fewer than {successes} checks");
            Assert.True(restartToPrimary <= successes * interval + timeout + TimeSpan.FromSeconds(1), $"back after {restartToPrimary.TotalMilliseconds} ms");
            Assert.All(attempts.Where(a => a.Started > returned), a => Assert.Equal(PrimaryVia, a.Via));

            var member = await daemon.MemberAsync("pair", "primary");
            Assert.Equal("up", member.State);
            Assert.True(member.Failures["refused"] >= 2, GroupDaemon.Describe(member));
        }
        finally
        {
            await primary.DisposeAsync();
            if (restarted is not null)
            {
                await restarted.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task PassiveDetection_SixtySecondChecksAndPrimaryKilled_NewConnectionsMoveWithinTwoSecondsAndMemberIsDownBeforeAnyCheck()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var primary = await Microsocks.StartAsync(IPAddress.Loopback, bind: PrimaryVia);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, bind: BackupVia);
        await using var daemon = await GroupDaemon.StartAsync(
            "pair",
            [Socks5("primary", primary.EndPoint), Socks5("backup", backup.EndPoint)],
            [Group("pair", "failover", ["primary", "backup"], interval: 60, timeout: 1, failures: 2, successes: 2)],
            ConnectTimeout);

        // The first check runs at start; the next is a minute away, so only real dials can move the member.
        var before = await daemon.WaitForMemberAsync("pair", "primary", m => m.Checks >= 1, TimeSpan.FromSeconds(10));
        await using var stream = new ConnectionStream(daemon.Server, target.EndPoint, maxConnections: 2000, maxDuration: TimeSpan.FromSeconds(30), pause: TimeSpan.FromMilliseconds(10));
        stream.Start();
        Assert.True(await stream.WaitUntilAsync(a => a.Count(x => Equals(x.Via, PrimaryVia)) >= 10, TimeSpan.FromSeconds(10)), Describe(stream.Attempts) + daemon.Log);

        Kill(primary);
        var killedAt = stream.Now;
        Assert.True(await stream.WaitUntilAsync(a => a.Count(x => x.Started > killedAt && Equals(x.Via, BackupVia)) >= 10, TimeSpan.FromSeconds(2)), Describe(stream.Attempts) + daemon.Log);
        var attempts = await stream.StopAsync();
        var member = await daemon.MemberAsync("pair", "primary");

        var moved = attempts.Where(a => a.Answered > killedAt && Equals(a.Via, BackupVia)).Min(a => a.Answered) - killedAt;
        output.WriteLine($"passive: kill -> first success on backup: {moved.TotalMilliseconds:0.0} ms; primary {GroupDaemon.Describe(member)}");
        Assert.True(moved < TimeSpan.FromSeconds(2), $"moved after {moved.TotalMilliseconds} ms");
        Assert.DoesNotContain(attempts, a => a.Started > killedAt + TimeSpan.FromMilliseconds(100) && !a.Succeeded);
        Assert.Equal("down", member.State);
        Assert.Equal("refused", member.Reason);
        Assert.True(member.Failures["refused"] >= 2, GroupDaemon.Describe(member));
        Assert.Equal(before.Checks, member.Checks);
    }

    /// <summary>
    /// A primary that hangs instead of dying (SIGSTOP to its pid: the kernel still accepts TCP for it, nobody
    /// answers) gives no refusal to react to: a dial to it waits half the connect budget and is then retried on the
    /// backup, and timeouts, passive or from the checks, mark it down. No client may wait past the connect timeout;
    /// the measured hang-to-backup time is printed for comparison with a kill.
    /// </summary>
    [Fact]
    public async Task Failover_PrimaryHangs_NoClientWaitsPastConnectTimeoutAndBackupTakesOverOnceTimeoutsMarkItDown()
    {
        var interval = TimeSpan.FromSeconds(1);
        var timeout = TimeSpan.FromSeconds(0.5);
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var primary = await Microsocks.StartAsync(IPAddress.Loopback, bind: PrimaryVia);
        await using var backup = await Microsocks.StartAsync(IPAddress.Loopback, bind: BackupVia);
        var pid = primary.Process.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await using var daemon = await GroupDaemon.StartAsync(
                "pair",
                [Socks5("primary", primary.EndPoint), Socks5("backup", backup.EndPoint)],
                [Group("pair", "failover", ["primary", "backup"], interval.TotalSeconds, timeout.TotalSeconds, failures: 2, successes: 2)],
                ConnectTimeout);
            await using var stream = new ConnectionStream(daemon.Server, target.EndPoint, maxConnections: 2000, maxDuration: TimeSpan.FromSeconds(40), pause: TimeSpan.FromMilliseconds(10));
            stream.Start();
            Assert.True(await stream.WaitUntilAsync(a => a.Count(x => Equals(x.Via, PrimaryVia)) >= 10, TimeSpan.FromSeconds(10)), Describe(stream.Attempts) + daemon.Log);

            await ExternalProcess.RunOrThrowAsync("kill", ["-STOP", pid], TimeSpan.FromSeconds(5));
            var hungAt = stream.Now;
            Assert.True(await stream.WaitUntilAsync(a => a.Count(x => x.Started > hungAt && Equals(x.Via, BackupVia)) >= 10, TimeSpan.FromSeconds(15)), Describe(stream.Attempts) + daemon.Log);
            var attempts = await stream.StopAsync();
            var member = await daemon.MemberAsync("pair", "primary");

            var afterHang = attempts.Where(a => a.Answered > hungAt).ToList();
            var toBackup = afterHang.Where(a => Equals(a.Via, BackupVia)).Min(a => a.Answered) - hungAt;
            var failed = afterHang.Where(a => !a.Succeeded).ToList();
            var longestWait = attempts.Max(a => a.Waited);
            output.WriteLine($"hang (SIGSTOP) -> first success on backup: {toBackup.TotalMilliseconds:0} ms; clients failed meanwhile: {failed.Count} "
                             + $"({string.Join(", ", failed.Select(f => $"{f.Reply?.ToString() ?? f.Error} after {f.Waited.TotalMilliseconds:0} ms"))})");
            output.WriteLine($"longest client wait {longestWait.TotalMilliseconds:0} ms; primary {GroupDaemon.Describe(member)}");

            Assert.True(longestWait < TimeSpan.FromSeconds(ConnectTimeout + 0.3), $"a client waited {longestWait.TotalMilliseconds} ms");
            Assert.All(failed, f => Assert.Equal(Socks5ReplyCode.TtlExpired, f.Reply));
            Assert.Equal("down", member.State);
            Assert.True(member.Failures["handshake"] + member.Failures["timeout"] >= 2, GroupDaemon.Describe(member));

            // At worst both failures come from checks, each one interval plus one timeout apart, plus a dial in flight.
            Assert.True(toBackup <= 2 * (interval + timeout) + TimeSpan.FromSeconds(ConnectTimeout), $"backup after {toBackup.TotalMilliseconds} ms");
        }
        finally
        {
            await ExternalProcess.RunAsync("kill", ["-CONT", pid], TimeSpan.FromSeconds(5));
        }
    }

    private static void Kill(Microsocks upstream)
    {
        // SIGKILL to the pid we started: the upstream vanishes at once, as a crash would take it.
        using var process = Process.GetProcessById(upstream.Process.Pid);
        process.Kill();
        Assert.True(process.WaitForExit(5000), upstream.Process.Describe());
    }

    private static string Describe(IEnumerable<StreamAttempt> attempts)
        => string.Join('\n', attempts.TakeLast(30).Select(a => $"{a.Started.TotalMilliseconds:0} +{a.Waited.TotalMilliseconds:0} ms {a.Reply} via {a.Via} {a.Error}")) + "\n";
}
