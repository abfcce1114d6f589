using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Engine.Tests.Pipeline;

/// <summary>
/// The pipeline driven by a scripted inbound over real loopback sockets: what the client sees (data, FIN or RST)
/// and what is counted, for each way a connection can end.
/// </summary>
[Trait("Category", "Unit")]
public sealed class ConnectionPipelineTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly EventLoopGroup _loops = new(1);
    private readonly SessionTable _sessions = new();
    private readonly ConnectionPipeline _pipeline;

    public ConnectionPipelineTests() => _pipeline = new ConnectionPipeline(_loops, _sessions, NullLogger.Instance);

    public void Dispose() => _loops.Dispose();

    /// <summary>An inbound whose request is fixed in advance and which records the reply it was asked to give.</summary>
    private sealed class ScriptedInbound(InboundProfile profile, Destination destination, byte[]? earlyData = null) : IInbound
    {
        public InboundProfile Profile { get; } = profile;

        public int Requests { get; private set; }

        public List<DialResult> Replies { get; } = [];

        public ValueTask<InboundRequest> ReceiveAsync(Session session, Memory<byte> buffer)
        {
            Requests++;
            if (earlyData is null)
            {
                return ValueTask.FromResult(InboundRequest.For(destination));
            }

            earlyData.CopyTo(buffer);
            return ValueTask.FromResult(InboundRequest.For(destination, buffer[..earlyData.Length]));
        }

        public ValueTask<bool> ReplyAsync(Session session, DialResult result)
        {
            Replies.Add(result);
            return ValueTask.FromResult(true);
        }
    }

    /// <summary>An inbound whose client never finishes its request: it waits on the socket until that is aborted.</summary>
    private sealed class StallingInbound(InboundProfile profile) : IInbound
    {
        public InboundProfile Profile { get; } = profile;

        public async ValueTask<InboundRequest> ReceiveAsync(Session session, Memory<byte> buffer)
        {
            var read = await session.ClientSocket.ReceiveAsync(buffer);
            return read.HasError || read.Bytes == 0 ? InboundRequest.Failed : InboundRequest.For(Destination.FromAddress(IPAddress.Loopback, 9));
        }

        public ValueTask<bool> ReplyAsync(Session session, DialResult result) => ValueTask.FromResult(false);
    }

    private static InboundProfile Profile(
        IDialer dialer, bool repliesInBand, DestinationPolicy? policy = null, Admission? admission = null, AdmissionLimits? limits = null)
        => new(
            "test", new InboundStats("test"), admission ?? new Admission(), limits ?? AdmissionLimits.None,
            new Route(dialer, policy ?? DestinationPolicy.AllowAll, TimeSpan.FromSeconds(5)),
            new RelaySettings { IdleTimeout = TimeSpan.FromSeconds(30) }, repliesInBand, RequestBufferSize: 64);

    /// <summary>A connected pair: the test's client socket, and the accepted fd the pipeline will own.</summary>
    private async Task<(Socket Client, Task Run)> ConnectAsync(IInbound inbound)
    {
        using var listener = LinuxSocket.Listen(new IPEndPoint(IPAddress.Loopback, 0), _loops.Next());
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = (int)Timeout.TotalMilliseconds };
        await client.ConnectAsync(listener.GetLocalEndPoint()!);
        var accepted = await listener.AcceptAsync().AsTask().WaitAsync(Timeout);
        Assert.True(accepted.Fd >= 0, accepted.Error.ToString());
        return (client, _pipeline.RunAsync(inbound, accepted.Fd, accepted.Remote!));
    }

    /// <summary>A destination that accepts one connection and then does what the test says with it.</summary>
    private static (IPEndPoint EndPoint, Task<byte[]> Received) Target(Func<Socket, Task> behave, int expectBytes = 0)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        var received = Task.Run(async () =>
        {
            using (listener)
            {
                using var peer = await listener.AcceptAsync().WaitAsync(Timeout);
                var buffer = new byte[expectBytes];
                for (var filled = 0; filled < expectBytes;)
                {
                    var n = await peer.ReceiveAsync(buffer.AsMemory(filled)).AsTask().WaitAsync(Timeout);
                    Assert.NotEqual(0, n);
                    filled += n;
                }

                await behave(peer);
                return buffer;
            }
        });
        return (endPoint, received);
    }

    private static int ClosedPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static async Task<string> ReadToEndAsync(Socket client)
    {
        var text = new StringBuilder();
        var buffer = new byte[256];
        while (true)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout);
            if (n == 0)
            {
                return text.ToString();
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
    }

    private static async Task<SocketError> ReadUntilFailureAsync(Socket client)
    {
        try
        {
            await ReadToEndAsync(client);
            return SocketError.Success;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode;
        }
    }

    [Fact]
    public async Task RunAsync_DestinationClosesCleanly_ClientGetsEverythingThenFin()
    {
        var (endPoint, _) = Target(async peer =>
        {
            await peer.SendAsync("bye"u8.ToArray());
            peer.Shutdown(SocketShutdown.Send);
            while (await peer.ReceiveAsync(new byte[16]) > 0)
            {
            }
        });
        var inbound = new ScriptedInbound(Profile(new DirectDialer(Timeout), repliesInBand: false), Destination.FromEndPoint(endPoint));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            Assert.Equal("bye", await ReadToEndAsync(client));
            client.Shutdown(SocketShutdown.Send);
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(1, inbound.Profile.Stats.Total);
        Assert.Equal(3, inbound.Profile.Stats.ClosedBytesDown);
    }

    [Fact]
    public async Task RunAsync_DestinationResetsMidStream_ClientGetsResetNotFin()
    {
        var (endPoint, _) = Target(async peer =>
        {
            await peer.SendAsync("partial"u8.ToArray());
            await Task.Delay(100);
            peer.LingerState = new LingerOption(true, 0);
            peer.Close();
        });
        var inbound = new ScriptedInbound(Profile(new DirectDialer(Timeout), repliesInBand: true), Destination.FromEndPoint(endPoint));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            // A cut download must not look complete: the client sees the bytes that came, then a reset.
            var buffer = new byte[7];
            Assert.Equal(7, await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout));
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(client));
            await run.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task RunAsync_DialFailsOnInboundWithoutReplies_ClientGetsReset()
    {
        var inbound = new ScriptedInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: false), Destination.FromAddress(IPAddress.Loopback, ClosedPort()));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(client));
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(DialError.Refused, Assert.Single(inbound.Replies).Error);
        Assert.Equal(1, inbound.Profile.Stats.DialFailures(DialError.Refused));
    }

    [Fact]
    public async Task RunAsync_SessionAbortedMidStream_BothSidesGetReset()
    {
        var destinationSaw = new TaskCompletionSource<SocketError>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (endPoint, _) = Target(async peer =>
        {
            await peer.SendAsync("hello"u8.ToArray());
            destinationSaw.SetResult(await ReadUntilFailureAsync(peer));
        });
        var inbound = new ScriptedInbound(Profile(new DirectDialer(Timeout), repliesInBand: false), Destination.FromEndPoint(endPoint));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            var buffer = new byte[5];
            Assert.Equal(5, await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Timeout));

            // What a drain that ran out does: the stream was cut, so neither end may see a FIN that looks complete.
            _sessions.AbortAll("test");
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(client));
            Assert.Equal(SocketError.ConnectionReset, await destinationSaw.Task.WaitAsync(Timeout));
            await run.WaitAsync(Timeout);
        }
    }

    [Fact]
    public async Task RunAsync_DialFailsOnInboundWithReplies_ClientGetsTheReplyThenFin()
    {
        var inbound = new ScriptedInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true), Destination.FromAddress(IPAddress.Loopback, ClosedPort()));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            Assert.Equal(string.Empty, await ReadToEndAsync(client));
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(DialError.Refused, Assert.Single(inbound.Replies).Error);
    }

    [Fact]
    public async Task RunAsync_EarlyData_ReachesTheDestinationFirstAndIsCounted()
    {
        var (endPoint, received) = Target(peer => Task.CompletedTask, expectBytes: 5 + 4);
        var inbound = new ScriptedInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true), Destination.FromEndPoint(endPoint), "early"u8.ToArray());
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            await client.SendAsync("late"u8.ToArray());
            Assert.Equal("earlylate", Encoding.ASCII.GetString(await received.WaitAsync(Timeout)));
            client.Shutdown(SocketShutdown.Send);
            await ReadToEndAsync(client);
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(9, inbound.Profile.Stats.ClosedBytesUp);
    }

    /// <summary>
    /// An inbound with early data that, once the dial has succeeded, lets the destination act (<paramref name="act"/>)
    /// before it replies, so that what the destination did is in place when the early data goes out.
    /// </summary>
    private sealed class ActBeforeReplyInbound(InboundProfile profile, Destination destination, byte[] earlyData, Func<Task> act) : IInbound
    {
        public InboundProfile Profile { get; } = profile;

        public ValueTask<InboundRequest> ReceiveAsync(Session session, Memory<byte> buffer)
        {
            earlyData.CopyTo(buffer);
            return ValueTask.FromResult(InboundRequest.For(destination, buffer[..earlyData.Length]));
        }

        public async ValueTask<bool> ReplyAsync(Session session, DialResult result)
        {
            Assert.True(result.Succeeded, result.ToString());
            await act().WaitAsync(Timeout);

            // Let the destination's segment arrive before the early data goes out.
            await Task.Delay(100);
            return true;
        }
    }

    [Fact]
    public async Task RunAsync_DestinationResetsBeforeEarlyData_ClientGetsResetAndItCountsAsUpstreamFailure()
    {
        var dialed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reset = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (endPoint, _) = Target(async peer =>
        {
            await dialed.Task.WaitAsync(Timeout);
            peer.LingerState = new LingerOption(true, 0);
            peer.Close();
            reset.SetResult();
        });
        var inbound = new ActBeforeReplyInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true), Destination.FromEndPoint(endPoint), "early"u8.ToArray(), () =>
            {
                dialed.SetResult();
                return reset.Task;
            });
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            // The client was told "succeeded", so only a reset can say the stream never started.
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(client));
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(1, inbound.Profile.Stats.UpstreamFailures);
        Assert.Equal(0, inbound.Profile.Stats.ClosedBytesUp);
    }

    [Fact]
    public async Task RunAsync_DeniedDestination_IsNeverDialedAndCountsAsTheDialersFailure()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using (listener)
        {
            var endPoint = (IPEndPoint)listener.LocalEndPoint!;
            var dialer = new DirectDialer(Timeout);
            var policy = new DestinationPolicy(new NetworkSet([IpNetwork.Parse("127.0.0.0/8")]), []);
            var inbound = new ScriptedInbound(Profile(dialer, repliesInBand: true, policy), Destination.FromEndPoint(endPoint));
            var (client, run) = await ConnectAsync(inbound);
            using (client)
            {
                await run.WaitAsync(Timeout);
            }

            Assert.Equal(DialError.Denied, Assert.Single(inbound.Replies).Error);
            Assert.Equal(1, dialer.Stats.FailuresOf(DialError.Denied));
            Assert.False(listener.Poll(0, SelectMode.SelectRead), "the denied destination was connected to");
        }
    }

    [Fact]
    public async Task RunAsync_NameForLocalDialer_PolicySeesTheResolvedAddress()
    {
        var dialer = new DirectDialer(Timeout);
        var policy = new DestinationPolicy(new NetworkSet([IpNetwork.Parse("127.0.0.0/8"), IpNetwork.Parse("::1/128")]), []);
        var inbound = new ScriptedInbound(Profile(dialer, repliesInBand: true, policy), Destination.FromHost("localhost", ClosedPort()));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            await run.WaitAsync(Timeout);
        }

        // Refused before any connect: a dial would have come back "refused" from the closed port instead.
        Assert.Equal(DialError.Denied, Assert.Single(inbound.Replies).Error);
    }

    [Fact]
    public async Task RunAsync_OverTheConnectionLimit_IsRejectedWithoutReadingAndReset()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 1, MaxHandshakes: 0);
        Assert.Null(admission.TryAdmit(new IPEndPoint(IPAddress.Loopback, 1), limits, null, out _));
        var inbound = new ScriptedInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true, admission: admission, limits: limits),
            Destination.FromAddress(IPAddress.Loopback, ClosedPort()));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(client));
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(0, inbound.Requests);
        Assert.Equal(1, inbound.Profile.Stats.Rejected);
        Assert.Equal(1, admission.Connections);
    }

    [Fact]
    public async Task RunAsync_HandshakeBudgetFull_EvictsTheStalledHandshakeWithReset()
    {
        var admission = new Admission();
        var inbound = new StallingInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true, admission: admission, limits: new AdmissionLimits(null, 0, MaxHandshakes: 1)));
        var (stalled, stalledRun) = await ConnectAsync(inbound);
        var (newcomer, newcomerRun) = await ConnectAsync(inbound);
        using (stalled)
        using (newcomer)
        {
            Assert.Equal(SocketError.ConnectionReset, await ReadUntilFailureAsync(stalled));
            await stalledRun.WaitAsync(Timeout);
            Assert.False(newcomerRun.IsCompleted);
            Assert.Equal(1, admission.Handshakes);
            Assert.Equal(1, inbound.Profile.Stats.Evicted);
        }

        await newcomerRun.WaitAsync(Timeout);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, admission.Connections);
        Assert.Equal(0, admission.Sources);
    }

    [Fact]
    public async Task RunAsync_Finished_ReleasesItsAdmissionSlotsAndSession()
    {
        var admission = new Admission();
        var inbound = new ScriptedInbound(
            Profile(new DirectDialer(Timeout), repliesInBand: true, admission: admission, limits: new AdmissionLimits(null, 4, 4)),
            Destination.FromAddress(IPAddress.Loopback, ClosedPort()));
        var (client, run) = await ConnectAsync(inbound);
        using (client)
        {
            await run.WaitAsync(Timeout);
        }

        Assert.Equal(0, admission.Connections);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, _sessions.Count);
        Assert.Equal(0, inbound.Profile.Stats.Active);
    }
}
