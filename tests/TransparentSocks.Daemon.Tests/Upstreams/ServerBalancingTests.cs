using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;
using static TransparentSocks.Daemon.Tests.Upstreams.UpstreamJson;

namespace TransparentSocks.Daemon.Tests.Upstreams;

/// <summary>
/// round-robin, hash and least-connections groups over real microsocks, each dialing from its own loopback address,
/// so the target's view of every connection says which member carried it.
/// </summary>
[Trait("Category", "Integration")]
[Collection(UpstreamServerCollection.Name)]
public sealed class ServerBalancingTests
{
    private static readonly IPAddress[] Vias = [IPAddress.Parse("127.0.0.11"), IPAddress.Parse("127.0.0.12"), IPAddress.Parse("127.0.0.13")];

    [Fact]
    public async Task RoundRobin_ThreeHundredConnections_SpreadOverThreeUpstreamsWithinTenPercent()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var members = await Members.StartAsync(3);
        await using var daemon = await GroupDaemon.StartAsync("spread", members.Upstreams, [Group("spread", "round-robin", members.Names)]);

        // 300 connections, four at a time, bounded by 60 s.
        var clock = Stopwatch.StartNew();
        var hops = new List<ServerHop>();
        for (var batch = 0; batch < 75 && clock.Elapsed < TimeSpan.FromSeconds(60); batch++)
        {
            hops.AddRange(await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => ServerClient.ConnectAsync(daemon.Server, target.EndPoint))));
        }

        Assert.Equal(300, hops.Count);
        Assert.All(hops, h => Assert.Equal(Socks5ReplyCode.Succeeded, h.Reply));
        var counts = Vias.ToDictionary(v => v, v => hops.Count(h => Equals(h.Via, v)));
        var spread = string.Join(", ", counts.Select(kv => $"{kv.Key}={kv.Value}"));
        Assert.All(counts.Values, n => Assert.InRange(n, 90, 110));
        Assert.Equal(300, counts.Values.Sum());
        Assert.True(await members[0].WaitForLogAsync($"connected to {target.EndPoint}", TimeSpan.FromSeconds(5)), spread);

        // The daemon counts each member's connections the same way.
        var upstreams = await daemon.UpstreamsAsync();
        Assert.Equal(counts[Vias[0]], upstreams.Single(u => u.Name == "a").Connections);
        Assert.Equal(counts[Vias[1]], upstreams.Single(u => u.Name == "b").Connections);
        Assert.Equal(counts[Vias[2]], upstreams.Single(u => u.Name == "c").Connections);
    }

    [Fact]
    public async Task Hash_SeveralClientAddresses_EachClientStaysOnOneUpstreamAndClientsUseSeveral()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var members = await Members.StartAsync(3);
        await using var daemon = await GroupDaemon.StartAsync("sticky", members.Upstreams, [Group("sticky", "hash", members.Names)]);

        // Eight client addresses, six rounds each, interleaved so that no client's connections come in a run.
        var clients = Enumerable.Range(101, 8).Select(i => IPAddress.Parse($"127.0.0.{i}")).ToArray();
        var seen = clients.ToDictionary(c => c, _ => new List<IPAddress?>());
        for (var round = 0; round < 6; round++)
        {
            foreach (var client in clients)
            {
                using var hop = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint, source: client);
                Assert.Equal(Socks5ReplyCode.Succeeded, hop.Reply);
                seen[client].Add(hop.Via);
            }
        }

        var report = string.Join("; ", seen.Select(kv => $"{kv.Key} -> {string.Join(",", kv.Value)}"));
        Assert.All(seen.Values, vias => Assert.Single(vias.Distinct()));
        Assert.True(seen.Values.Select(v => v[0]).Distinct().Count() >= 2, report);
    }

    [Fact]
    public async Task LeastConnections_LongConnectionsHeldOnOneMember_NewConnectionsGoToTheIdleOne()
    {
        await using var target = new PeerReportingTarget(IPAddress.Loopback);
        await using var members = await Members.StartAsync(2);
        await using var daemon = await GroupDaemon.StartAsync("fewest", members.Upstreams, [Group("fewest", "least-connections", members.Names)]);
        var held = new List<ServerHop>();
        try
        {
            // Six long connections share out three and three; closing b's three leaves a holding three, b none.
            for (var i = 0; i < 6; i++)
            {
                held.Add(await ServerClient.ConnectAsync(daemon.Server, target.EndPoint, keepOpen: true));
            }

            Assert.Equal(3, held.Count(h => Equals(h.Via, Vias[0])));
            foreach (var hop in held.Where(h => Equals(h.Via, Vias[1])).ToList())
            {
                hop.Dispose();
                held.Remove(hop);
            }

            await daemon.WaitForMemberAsync("fewest", "b", m => m.InFlight == 0, TimeSpan.FromSeconds(10));
            Assert.Equal(3, (await daemon.MemberAsync("fewest", "a")).InFlight);

            // While a holds more, every new connection, held or not, goes to b.
            for (var i = 0; i < 5; i++)
            {
                using var quick = await ServerClient.ConnectAsync(daemon.Server, target.EndPoint);
                Assert.Equal(Vias[1], quick.Via);
                await daemon.WaitForMemberAsync("fewest", "b", m => m.InFlight == 0, TimeSpan.FromSeconds(10));
            }

            var fresh = new List<ServerHop>();
            for (var i = 0; i < 3; i++)
            {
                fresh.Add(await ServerClient.ConnectAsync(daemon.Server, target.EndPoint, keepOpen: true));
            }

            held.AddRange(fresh);
            Assert.All(fresh, h => Assert.Equal(Vias[1], h.Via));
            Assert.Equal(3, (await daemon.MemberAsync("fewest", "b")).InFlight);
        }
        finally
        {
            foreach (var hop in held)
            {
                hop.Dispose();
            }
        }
    }

    /// <summary>Members a, b, c, … : microsocks each dialing from <see cref="Vias"/> in turn, stopped together.</summary>
    private sealed class Members : IAsyncDisposable
    {
        private readonly List<Microsocks> _started = [];

        public Microsocks this[int index] => _started[index];

        public string[] Names => [.. _started.Select((_, i) => ((char)('a' + i)).ToString())];

        public IEnumerable<JsonObject> Upstreams => _started.Select((m, i) => Socks5(Names[i], m.EndPoint));

        public static async Task<Members> StartAsync(int count)
        {
            var members = new Members();
            try
            {
                for (var i = 0; i < count; i++)
                {
                    members._started.Add(await Microsocks.StartAsync(IPAddress.Loopback, bind: Vias[i]));
                }

                return members;
            }
            catch
            {
                await members.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var microsocks in _started)
            {
                await microsocks.DisposeAsync();
            }
        }
    }
}
