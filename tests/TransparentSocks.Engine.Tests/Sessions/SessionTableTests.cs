using TransparentSocks.Addressing;
using System.Net;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Tests.Sessions;

[Trait("Category", "Unit")]
public sealed class SessionTableTests : IDisposable
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("198.51.100.2"), 40000);
    private readonly EventLoopGroup _loops = new(1);
    private readonly List<LinuxSocket> _sockets = [];

    // A session does not own its sockets (the pipeline closes them), so the test does.
    public void Dispose()
    {
        _sockets.ForEach(s => s.Dispose());
        _loops.Dispose();
    }

    private LinuxSocket Socket()
    {
        var socket = LinuxSocket.Create(System.Net.Sockets.AddressFamily.InterNetwork, _loops.Next());
        _sockets.Add(socket);
        return socket;
    }

    [Theory]
    [InlineData("203.0.113.9", null)]
    [InlineData("2001:db8::9", null)]
    [InlineData(null, "example.test")]
    public void Settled_ClientAndDestinationReadTheSameAsBefore(string? address, string? host)
    {
        var table = new SessionTable();
        using var session = table.Open("eth1", Socket(), Client, new InboundStats("eth1"));
        var destination = address is not null ? Destination.FromAddress(IPAddress.Parse(address), 443) : Destination.FromHost(host!, 443);
        session.Destination = destination;

        session.Settle();

        Assert.Equal(Client, session.ClientEndPoint);
        Assert.Equal(destination, session.Destination);
        Assert.Equal(destination.ToString(), session.Destination.ToString());
    }

    [Fact]
    public void Open_GivesIncreasingIdsAndCountsTheSessionAsActive()
    {
        var table = new SessionTable();
        var stats = new InboundStats("eth1");
        using var a = table.Open("eth1", Socket(), Client, stats);
        using var b = table.Open("eth1", Socket(), Client, stats);
        Assert.True(b.Id > a.Id);
        Assert.Equal(2, table.Count);
        Assert.Equal(2, stats.Active);
        Assert.True(table.TryGet(a.Id, out var found));
        Assert.Same(a, found);
    }

    [Fact]
    public void Dispose_RemovesTheSessionAndMovesItsBytesToTheClosedTotals()
    {
        var table = new SessionTable();
        var stats = new InboundStats("eth1");
        var session = table.Open("eth1", Socket(), Client, stats);
        session.Counters.AddUp(100);
        Assert.Equal((100L, 0L), table.BytesOf(stats));
        session.Dispose();
        Assert.Equal(0, table.Count);
        Assert.Equal(0, stats.Active);
        Assert.Equal(100, stats.ClosedBytesUp);

        // Counted once: closed, and no longer live.
        Assert.Equal((100L, 0L), table.BytesOf(stats));
    }

    [Fact]
    public void Traffic_SumsClosedAndLiveBytesPerInboundInOnePass()
    {
        var table = new SessionTable();
        var server = new InboundStats("server");
        var eth1 = new InboundStats("eth1");
        var closed = table.Open("server", Socket(), Client, server);
        closed.Counters.AddUp(7);
        closed.Dispose();
        using var live = table.Open("server", Socket(), Client, server);
        live.Counters.AddUp(5);
        using var other = table.Open("eth1", Socket(), Client, eth1);
        other.Counters.AddUp(1000);

        var traffic = table.Traffic([server, eth1]);
        Assert.Equal((12L, 0L), traffic.Of(server));
        Assert.Equal((1000L, 0L), traffic.Of(eth1));

        // An inbound the snapshot was not asked about reads as zero rather than throwing.
        Assert.Equal((0L, 0L), table.Traffic([server]).Of(eth1));
    }

    [Fact]
    public void Snapshot_ListsSessionsInIdOrder()
    {
        var table = new SessionTable();
        var stats = new InboundStats("eth1");
        var sessions = Enumerable.Range(0, 5).Select(_ => table.Open("eth1", Socket(), Client, stats)).ToList();
        Assert.Equal(sessions.Select(s => s.Id), table.Snapshot().Select(s => s.Id));
        sessions.ForEach(s => s.Dispose());
    }
}

internal static class SessionTableTestExtensions
{
    /// <summary>A session of an inbound named <paramref name="inbound"/> whose profile carries only what a session reads.</summary>
    public static Session Open(this SessionTable table, string inbound, LinuxSocket client, IPEndPoint clientEndPoint, InboundStats stats)
        => table.Open(
            new InboundProfile(
                inbound, stats, new Admission(), AdmissionLimits.None,
                new Route(new DirectDialer(TimeSpan.FromSeconds(1)), DestinationPolicy.AllowAll, TimeSpan.FromSeconds(1)),
                new RelaySettings(), RepliesInBand: false, RequestBufferSize: 0),
            client,
            clientEndPoint);
}
