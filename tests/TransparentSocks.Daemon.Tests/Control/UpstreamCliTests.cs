using System.Net;
using System.Text.Json;
using TransparentSocks.Control;
using TransparentSocks.Options;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Daemon.Tests.Control;

/// <summary>
/// <c>upstream add/remove</c>, <c>group set/remove</c> and <c>server start --outbound</c> against a real daemon: the
/// change runs (traffic goes through it), the file holds it, a restart brings it back; a refused change leaves both
/// the running daemon and the file as they were.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UpstreamCliTests
{
    private static readonly ControlJsonContext J = ControlJsonContext.Default;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task UpstreamAddGroupSetAndServerOutbound_CarryTrafficLive_AndPersistAcrossARestart()
    {
        await using var target = new HttpTarget(IPAddress.Loopback, "via the group\n");
        await using var upstream = await Microsocks.StartAsync(IPAddress.Loopback, "up-user", "up-secret");
        var port = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);
        await using var daemon = await ControlledDaemon.StartAsync("""{ "server": { "allowPrivateDestinations": true } }""");
        var passwordFile = daemon.WriteFile("a.pass", "up-secret\n");
        var closed = PortAllocator.GetFreeTcpPort(IPAddress.Loopback);

        await OkAsync(daemon, "upstream", "add", "a", upstream.EndPoint.ToString(), "--username", "up-user", "--password-file", passwordFile);
        await OkAsync(daemon, "upstream", "add", "b", $"127.0.0.1:{closed}", "--protocol", "http");
        await OkAsync(daemon, "group", "set", "pool", "--policy", "failover", "a", "b", "--interval", "1", "--failures", "3");
        await OkAsync(daemon, "server", "start", $"127.0.0.1:{port}", "--outbound", "pool");

        var curl = await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "10", "--socks5-hostname", $"127.0.0.1:{port}", target.Url.ToString()], Timeout);
        Assert.True(curl.ExitCode == 0, curl.Error + daemon.Log);
        Assert.Equal("via the group\n", curl.Output);

        var upstreams = (await Cli.JsonAsync(daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        var a = upstreams.Single(u => u.Name == "a");
        Assert.Equal(("socks5", upstream.EndPoint.ToString(), "up-user", true), (a.Kind, a.Address, a.Username, a.HasPassword));
        Assert.True(a.Connections >= 1, $"a carried {a.Connections} connections\n{daemon.Log}");
        Assert.Contains("group:pool", a.UsedBy);
        var b = upstreams.Single(u => u.Name == "b");
        Assert.Equal(("http", $"127.0.0.1:{closed}", false), (b.Kind, b.Address, b.HasPassword));
        var pool = upstreams.Single(u => u.Name == "pool");
        Assert.Equal(("group", "failover"), (pool.Kind, pool.Policy));
        Assert.Equal(["a", "b"], pool.Members!.Select(m => m.Name));
        Assert.Contains("server", pool.UsedBy);
        Assert.Equal("pool", (await Cli.JsonAsync(daemon.Socket, J.ServerInfo, "show", "server")).Outbound);

        // The human view lists them too, with the group's members.
        var human = await Cli.RunAsync(daemon.Socket, "show", "upstreams");
        Assert.True(human.ExitCode == 0, human.Error);
        Assert.Matches(@"(?m)^pool +group +failover ", human.Output);
        Assert.Contains("pool: a up, b ", human.Output, StringComparison.Ordinal);

        var saved = ReadConfig(daemon);
        Assert.Equal(["a", "b"], saved.Upstreams.Select(u => u.Name));
        Assert.Equal((UpstreamProtocol.Socks5, "up-user", "up-secret"), (saved.Upstreams[0].Protocol, saved.Upstreams[0].Username, saved.Upstreams[0].Password));
        Assert.Equal(UpstreamProtocol.Http, saved.Upstreams[1].Protocol);
        var group = Assert.Single(saved.Groups);
        Assert.Equal(("pool", GroupPolicyKind.Failover, 1.0, 3), (group.Name, group.Policy, group.HealthCheck.IntervalSeconds, group.HealthCheck.Failures));
        Assert.Equal(["a", "b"], group.Members);
        Assert.Equal(("pool", true), (saved.Server.Outbound, saved.Server.Enabled));

        // The password went to the file, which needs it for the restart, and nowhere else.
        Assert.Matches(@"upstream add a socks5 .* by uid 0 pid \d+", await daemon.WaitForLogAsync("upstream add a"));
        Assert.DoesNotContain("up-secret", daemon.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("up-secret", (await Cli.RunAsync(daemon.Socket, "show", "upstreams", "--json")).Output, StringComparison.Ordinal);

        await daemon.RestartAsync();
        var after = (await Cli.JsonAsync(daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        Assert.Equal(["default", "a", "b", "pool"], after.Select(u => u.Name));
        var again = await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "10", "--socks5-hostname", $"127.0.0.1:{port}", target.Url.ToString()], Timeout);
        Assert.True(again.ExitCode == 0, again.Error + daemon.Log);

    }

    [Fact]
    public async Task RefusedChanges_NameTheFieldOrTheUsers_AndLeaveTheRunningConfigAndTheFileAsTheyWere()
    {
        await using var daemon = await ControlledDaemon.StartAsync($$"""
            {
              "upstreams": [ { "name": "a", "address": "127.0.0.1:{{PortAllocator.GetFreeTcpPort(IPAddress.Loopback)}}" },
                             { "name": "b", "address": "192.0.2.10:1080" } ],
              "groups": [ { "name": "pool", "members": [ "a" ] }, { "name": "outer", "members": [ "pool" ] } ],
              "server": { "enabled": true, "listen": "{{FreeListen()}}", "outbound": "pool" }
            }
            """);
        var file = await File.ReadAllTextAsync(daemon.ConfigPath);
        var before = await ShapeAsync(daemon);

        var usedUpstream = await Cli.RunAsync(daemon.Socket, "upstream", "remove", "a");
        Assert.Equal(1, usedUpstream.ExitCode);
        Assert.Contains("upstream 'a' is in use by groups[0] (pool)", usedUpstream.Error, StringComparison.Ordinal);

        var usedGroup = await Cli.RunAsync(daemon.Socket, "group", "remove", "pool");
        Assert.Equal(1, usedGroup.ExitCode);
        Assert.Contains("group 'pool' is in use by server.outbound, groups[1] (outer)", usedGroup.Error, StringComparison.Ordinal);
        var usedRaw = await RawAsync(daemon, ControlApi.GroupRemove("pool"), null);
        Assert.Equal((ErrorCodes.FailedPrecondition, "server.outbound"), (usedRaw.Code, usedRaw.Field));

        var unknownMember = await Cli.RunAsync(daemon.Socket, "group", "set", "g2", "a", "nope");
        Assert.Equal(2, unknownMember.ExitCode);
        Assert.Contains("groups[2].members[1]: 'nope' is not an upstream or a group", unknownMember.Error, StringComparison.Ordinal);
        Assert.Equal("groups[2].members[1]", (await RawAsync(daemon, ControlApi.GroupSet("g2"), """{"members":["a","nope"]}""")).Field);

        // pool -> outer -> pool.
        var cycle = await Cli.RunAsync(daemon.Socket, "group", "set", "pool", "outer");
        Assert.Equal(2, cycle.ExitCode);
        Assert.Contains("groups[1].members: 'pool' makes a cycle: pool -> outer -> pool", cycle.Error, StringComparison.Ordinal);

        // The CLI wants at least one member; a raw client is told by the daemon.
        var empty = await RawAsync(daemon, ControlApi.GroupSet("empty"), """{"members":[]}""");
        Assert.Equal((ErrorCodes.InvalidArgument, "groups[2].members"), (empty.Code, empty.Field));
        Assert.Contains("a group needs at least one member", empty.Message, StringComparison.Ordinal);

        var upstreamLikeGroup = await Cli.RunAsync(daemon.Socket, "upstream", "add", "pool", "192.0.2.11:1080");
        Assert.Equal(2, upstreamLikeGroup.ExitCode);
        Assert.Contains("upstreams[2].name: 'pool' is already groups[0]; upstreams and groups share one namespace", upstreamLikeGroup.Error, StringComparison.Ordinal);
        var groupLikeUpstream = await RawAsync(daemon, ControlApi.GroupSet("b"), """{"members":["a"]}""");
        Assert.Equal((ErrorCodes.InvalidArgument, "groups[2].name"), (groupLikeUpstream.Code, groupLikeUpstream.Field));
        Assert.Contains("'b' is already upstreams[1]", groupLikeUpstream.Message, StringComparison.Ordinal);

        var reserved = await RawAsync(daemon, ControlApi.UpstreamSet("default"), """{"address":"192.0.2.12:1080"}""");
        Assert.Equal((ErrorCodes.InvalidArgument, "name"), (reserved.Code, reserved.Field));
        var badProtocol = await RawAsync(daemon, ControlApi.UpstreamSet("c"), """{"address":"192.0.2.12:1080","protocol":"socks4"}""");
        Assert.Equal(("protocol", "protocol: 'socks4' is not one of: socks5, http"), (badProtocol.Field, badProtocol.Message));
        var badPolicy = await RawAsync(daemon, ControlApi.GroupSet("g3"), """{"members":["a"],"policy":"random"}""");
        Assert.Equal("policy", badPolicy.Field);
        var badAddress = await RawAsync(daemon, ControlApi.UpstreamSet("c"), """{"address":"nowhere"}""");
        Assert.Equal("upstreams[2].address", badAddress.Field);
        var badInterval = await RawAsync(daemon, ControlApi.GroupSet("g3"), """{"members":["a"],"interval":0.01}""");
        Assert.Equal("groups[2].healthCheck.interval", badInterval.Field);

        // Refused before the change is made, so lo (there on every host) is never diverted.
        var proxyAndUpstream = await RawAsync(daemon, ControlApi.InterfaceEnable("lo"), """{"proxy":"192.0.2.13:1080","upstream":"a"}""");
        Assert.Equal((ErrorCodes.InvalidArgument, "upstream"), (proxyAndUpstream.Code, proxyAndUpstream.Field));
        var upstreamWithCredentials = await RawAsync(daemon, ControlApi.InterfaceEnable("lo"), """{"upstream":"a","username":"u","password":"p"}""");
        Assert.Equal((ErrorCodes.InvalidArgument, "username"), (upstreamWithCredentials.Code, upstreamWithCredentials.Field));

        var missing = await Cli.RunAsync(daemon.Socket, "upstream", "remove", "nosuch");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("there is no upstream 'nosuch'", missing.Error, StringComparison.Ordinal);
        var wrongKind = await Cli.RunAsync(daemon.Socket, "upstream", "remove", "pool");
        Assert.Equal(3, wrongKind.ExitCode);
        Assert.Contains("'pool' is a group ('group remove pool')", wrongKind.Error, StringComparison.Ordinal);

        var unknownOutbound = await Cli.RunAsync(daemon.Socket, "server", "start", FreeListen(), "--outbound", "nope");
        Assert.Equal(2, unknownOutbound.ExitCode);
        Assert.Contains("server.outbound: 'nope' is not \"direct\", an upstream or a group", unknownOutbound.Error, StringComparison.Ordinal);

        Assert.Equal(file, await File.ReadAllTextAsync(daemon.ConfigPath));
        Assert.Equal(before, await ShapeAsync(daemon));

        // What nothing uses goes, from the running daemon and from the file.
        var removed = await Cli.RunAsync(daemon.Socket, "upstream", "remove", "b");
        Assert.True(removed.ExitCode == 0, removed.Error);
        Assert.Equal("upstream b removed; sessions through it continue\n", removed.Output);
        Assert.Equal(["a"], ReadConfig(daemon).Upstreams.Select(u => u.Name));
        Assert.DoesNotContain((await Cli.JsonAsync(daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams, u => u.Name == "b");
    }

    /// <summary>What the daemon runs, without the counters the health checks keep moving.</summary>
    [Fact]
    public async Task ConcurrentChanges_EveryOneIsKept_RunningAndInTheFile()
    {
        await using var daemon = await ControlledDaemon.StartAsync("""{ "server": { "allowPrivateDestinations": true } }""");
        // Rounds of 40 requests, each on its own control connection, connected first and then sent in one burst
        // (the control socket's backlog is 64): none may start from a copy of the config that another is about to
        // replace. A bigger config makes each change take longer, so later rounds race harder; before the fix a cold
        // daemon answered 12 of 48 and kept 2, and these rounds lost some in every run.
        const int Rounds = 4, PerRound = 40, Count = Rounds * PerRound;
        for (var round = 0; round < Rounds; round++)
        {
            var sockets = new List<System.Net.Sockets.Socket>();
            try
            {
                for (var i = 0; i < PerRound; i++)
                {
                    var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    sockets.Add(socket);
                    await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(daemon.Socket));
                }

                for (var i = 0; i < PerRound; i++)
                {
                    var n = (round * PerRound) + i;
                    var body = $$"""{ "address": "198.51.100.{{(n % 250) + 1}}:{{1000 + n}}" }""";
                    var request = $"POST /v1/upstreams/u{n}/set HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
                    sockets[i].Send(System.Text.Encoding.ASCII.GetBytes(request));
                }

                var answers = await Task.WhenAll(sockets.Select(async socket =>
                {
                    using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
                    using var reader = new StreamReader(stream);
                    using var cancel = new CancellationTokenSource(Timeout);
                    var status = await reader.ReadLineAsync(cancel.Token);
                    return status?.Split(' ') is [_, var code, ..] ? int.Parse(code, System.Globalization.CultureInfo.InvariantCulture) : 0;
                }));

                Assert.All(answers, code => Assert.True(code == 200, $"round {round}: HTTP {code}\n{daemon.Log}"));
            }
            finally
            {
                sockets.ForEach(s => s.Dispose());
            }
        }

        var running = (await Cli.JsonAsync(daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams.Select(u => u.Name).ToHashSet();
        var saved = ReadConfig(daemon).Upstreams.Select(u => u.Name!).ToHashSet();
        var expected = Enumerable.Range(0, Count).Select(i => $"u{i}").ToHashSet();
        Assert.Subset(running, expected);
        Assert.Equal(expected, saved);
    }

    private static async Task<string> ShapeAsync(ControlledDaemon daemon)
    {
        var upstreams = (await Cli.JsonAsync(daemon.Socket, J.UpstreamsResponse, "show", "upstreams")).Upstreams;
        var server = await Cli.JsonAsync(daemon.Socket, J.ServerInfo, "show", "server");
        return string.Join(
            "\n",
            upstreams.Select(u => $"{u.Name} {u.Kind} {u.Address} {u.Policy} [{string.Join(',', u.Members?.Select(m => m.Name) ?? [])}] used by {string.Join(',', u.UsedBy)}")
                .Append($"server {server.Running} {server.Listen} {server.Outbound}"));
    }

    private static async Task OkAsync(ControlledDaemon daemon, params string[] args)
    {
        var result = await Cli.RunAsync(daemon.Socket, args);
        Assert.True(result.ExitCode == 0, $"{string.Join(' ', args)}: exit {result.ExitCode}\n{result.Error}\n{daemon.Log}");
    }

    /// <summary>A POST as a raw API client sends it, past the CLI's own checks.</summary>
    private static async Task<ErrorBody> RawAsync(ControlledDaemon daemon, string path, string? body)
    {
        var result = await ExternalProcess.RunAsync(
            "curl", ["-sS", "--unix-socket", daemon.Socket, "-X", "POST", "-d", body ?? string.Empty, "http://localhost" + path], Timeout);
        Assert.True(result.ExitCode == 0, result.Error);
        return JsonSerializer.Deserialize(result.Output, J.ErrorResponse)!.Error;
    }

    private static TransparentSocksOptions ReadConfig(ControlledDaemon daemon)
    {
        var result = ConfigLoader.Parse(File.ReadAllText(daemon.ConfigPath), Path.GetDirectoryName(daemon.ConfigPath));
        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        return result.Options;
    }

    private static string FreeListen() => $"127.0.0.1:{PortAllocator.GetFreeTcpPort(IPAddress.Loopback)}";
}
