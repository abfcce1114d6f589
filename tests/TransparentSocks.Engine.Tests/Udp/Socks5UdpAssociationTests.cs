using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Engine.Udp;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using TransparentSocks.Socks;
using Poll = TransparentSocks.TestSupport.Poll;
using Socks5UdpAssociation = TransparentSocks.Engine.Udp.Socks5UdpAssociation;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Tests.Udp;

/// <summary>
/// The UDP ASSOCIATE client against a scripted upstream on loopback: where it sends (BND, or the upstream's own
/// address for a wildcard BND), what it accepts back, and how a refusal reads.
/// </summary>
[Trait("Category", "Unit")]
public sealed class Socks5UdpAssociationTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly Loop _loop = new("ts-test-udp-assoc");
    private readonly UdpRuntime _runtime;

    public Socks5UdpAssociationTests()
    {
        _runtime = new UdpRuntime(_loop);
    }

    public void Dispose()
    {
        _runtime.Dispose();
        _loop.Dispose();
    }

    [Theory]
    [InlineData("0.0.0.0", "127.0.0.1")]
    [InlineData("::", "127.0.0.1")]
    [InlineData("203.0.113.9", "203.0.113.9")]
    [InlineData("::ffff:203.0.113.9", "203.0.113.9")]
    public void RelayOf_WildcardBound_MeansTheUpstreamsOwnAddress(string bound, string expected)
    {
        var relay = Socks5UdpAssociation.RelayOf(Destination.FromAddress(IPAddress.Parse(bound), 5000), new IPEndPoint(IPAddress.Loopback, 1080));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(expected), 5000), relay!.Value.ToIPEndPoint());
    }

    [Fact]
    public void RelayOf_AName_IsTheUpstreamsAddress_AndPortZeroIsNoRelay()
    {
        var upstream = new IPEndPoint(IPAddress.Loopback, 1080);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7000), Socks5UdpAssociation.RelayOf(Destination.FromHost("relay.example", 7000), upstream)!.Value.ToIPEndPoint());
        Assert.Null(Socks5UdpAssociation.RelayOf(Destination.FromAddress(IPAddress.Loopback, 0), upstream));
    }

    /// <summary>A SOCKS5 server that answers one UDP ASSOCIATE with <paramref name="reply"/> and a BND of its choosing.</summary>
    private sealed class ScriptedUpstream : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Thread _thread;
        private Socket? _control;

        public ScriptedUpstream(Socks5ReplyCode reply, Func<IPEndPoint, Destination> bound, bool closeAfterReply = false)
        {
            Relay = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            Relay.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Start();
            _thread = new Thread(() =>
            {
                _control = _listener.AcceptSocket();
                var buffer = new byte[512];
                _ = _control.Receive(buffer);                  // 05 01 00
                _control.Send([5, 0]);
                _ = _control.Receive(buffer);                  // the UDP ASSOCIATE request
                Request = buffer[..10];
                var answer = new byte[Socks5Codec.MaxReplyLength];
                var n = Socks5Codec.WriteReply(answer, reply, bound((IPEndPoint)Relay.LocalEndPoint!));
                _control.Send(answer.AsSpan(0, n));
                if (closeAfterReply)
                {
                    _control.Dispose();
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public Socket Relay { get; }

        public byte[]? Request { get; private set; }

        public Destination Server => Destination.FromEndPoint((IPEndPoint)_listener.LocalEndpoint);

        public void CloseControl() => _control?.Dispose();

        public void Dispose()
        {
            _control?.Dispose();
            _listener.Stop();
            Relay.Dispose();
        }
    }

    private sealed class Recorder : IUdpAssociationOwner
    {
        public readonly List<(UdpEndpoint Source, byte[] Payload)> Replies = [];
        public readonly TaskCompletionSource<string> Closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly SemaphoreSlim Arrived = new(0);
        private readonly UdpRuntime _runtime;

        public Recorder(UdpRuntime runtime) => _runtime = runtime;

        public void OnReply(UdpAssociation association, UdpEndpoint source, int slot, int offset, int length)
        {
            Replies.Add((source, _runtime.Batch.Slot(slot).Slice(offset, length).ToArray()));
            Arrived.Release();
        }

        public void OnAssociationClosed(UdpAssociation association, string reason) => Closed.TrySetResult(reason);
    }

    private async Task<(UdpAssociateResult Result, UdpStats Stats)> AssociateAsync(ScriptedUpstream upstream)
    {
        var dialer = new Socks5Dialer(new Socks5DialerSettings { Server = upstream.Server, ConnectTimeout = Wait, HandshakeTimeout = Wait });
        var stats = new UdpStats();
        return (await dialer.AssociateAsync(_runtime, stats).AsTask().WaitAsync(Wait), stats);
    }

    [Fact]
    public async Task WildcardBound_DatagramsGoToTheUpstreamsAddress_FramedForTheDestination_AndRepliesComeBackUnframed()
    {
        using var upstream = new ScriptedUpstream(Socks5ReplyCode.Succeeded, relay => Destination.FromAddress(IPAddress.Any, relay.Port));
        var (result, stats) = await AssociateAsync(upstream);
        Assert.True(result.Succeeded, result.ToString());
        var association = result.Association!;
        var recorder = new Recorder(_runtime);
        association.Owner = recorder;

        // The request asked with all zeros: "not known yet", which survives NAT.
        Assert.Equal(new byte[] { 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 }, upstream.Request);

        var destination = UdpEndpoint.From(new IPEndPoint(IPAddress.Parse("203.0.113.2"), 53));
        lock (_runtime.Gate)
        {
            Assert.Equal(Errno.None, association.SendNow("query"u8, destination));
        }

        var buffer = new byte[2048];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        upstream.Relay.ReceiveTimeout = (int)Wait.TotalMilliseconds;
        var n = upstream.Relay.ReceiveFrom(buffer, ref from);
        var header = Socks5Codec.ParseUdpHeader(buffer.AsSpan(0, n));
        Assert.True(header.IsDone);
        Assert.Equal(Destination.FromEndPoint(destination.ToIPEndPoint()), header.Value.Destination);
        Assert.Equal("query"u8.ToArray(), buffer[header.Value.HeaderLength..n]);

        // A reply from the relay, on behalf of another remote (full-cone): handed over with that source.
        var reply = new byte[64];
        var length = Socks5Codec.WriteUdpHeader(reply, Destination.FromAddress(IPAddress.Parse("198.51.100.77"), 5353));
        "answer"u8.CopyTo(reply.AsSpan(length));
        upstream.Relay.SendTo(reply.AsSpan(0, length + 6), from);
        Assert.True(await recorder.Arrived.WaitAsync(Wait));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.77"), 5353), recorder.Replies[0].Source.ToIPEndPoint());
        Assert.Equal("answer"u8.ToArray(), recorder.Replies[0].Payload);

        // Anyone but the relay, even with a well-formed header: the connected socket never sees it.
        using (var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            stranger.SendTo(reply.AsSpan(0, length + 6), from);
        }

        // A fragment and garbage from the relay itself: dropped and counted, not handed over.
        reply[2] = 1;
        upstream.Relay.SendTo(reply.AsSpan(0, length + 6), from);
        upstream.Relay.SendTo(new byte[] { 0, 0, 0, 9 }, from);
        Assert.True(await Poll.UntilAsync(() => stats.Dropped(UdpDropReason.Fragmented) == 1 && stats.Dropped(UdpDropReason.Malformed) == 1, Wait));
        Assert.Single(recorder.Replies);

        // The upstream closing the control connection ends the association, and the owner hears of it.
        upstream.CloseControl();
        Assert.Equal("upstream closed the association", await recorder.Closed.Task.WaitAsync(Wait));
        Assert.True(association.IsClosed);
    }

    [Fact]
    public async Task Refused_IsAnUpstreamRejection_NamingTheReply()
    {
        using var upstream = new ScriptedUpstream(Socks5ReplyCode.CommandNotSupported, relay => default);
        var (result, _) = await AssociateAsync(upstream);

        Assert.False(result.Succeeded);
        Assert.Equal(DialError.UpstreamRejected, result.Error);
        Assert.Contains("UDP ASSOCIATE", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BoundPortZero_IsAProtocolError()
    {
        using var upstream = new ScriptedUpstream(Socks5ReplyCode.Succeeded, relay => Destination.FromAddress(IPAddress.Loopback, 0));
        var (result, _) = await AssociateAsync(upstream);

        Assert.False(result.Succeeded);
        Assert.Equal(DialError.UpstreamProtocolError, result.Error);
    }

    [Fact]
    public async Task UpstreamClosingRightAfterItsReply_TellsTheOwnerWhenItArrives_SoNoFlowIsLeftOnADeadAssociation()
    {
        using var upstream = new ScriptedUpstream(Socks5ReplyCode.Succeeded, relay => Destination.FromEndPoint(relay), closeAfterReply: true);
        var (result, _) = await AssociateAsync(upstream);
        Assert.True(result.Succeeded, result.ToString());
        var association = result.Association!;
        Assert.True(await Poll.UntilAsync(() => association.IsClosed, Wait));

        var recorder = new Recorder(_runtime);
        lock (_runtime.Gate)
        {
            association.Owner = recorder;
        }

        Assert.Equal("upstream closed the association", await recorder.Closed.Task.WaitAsync(Wait));
    }
}
