using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Engine.Pipeline;
using TransparentSocks.Engine.Policy;
using TransparentSocks.Engine.Sessions;
using TransparentSocks.Engine.Stats;
using TransparentSocks.Engine.Tests.Inbound;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Linux.Sockets;
using Tmds.Linux;
using Xunit.Abstractions;

namespace TransparentSocks.Engine.Tests.Pipeline;

/// <summary>
/// What an idle relayed connection keeps on the managed heap: connections held end to end through the pipeline
/// (client, pipeline, direct dial, a destination that never reads), measured with a full collection before and after.
/// Alone (the fd-sensitive collection runs by itself): it holds thousands of descriptors that other tests count, and
/// their allocations would be measured with its own.
/// </summary>
[Trait("Category", "Unit")]
[Collection(nameof(FdSensitive))]
public sealed class IdleConnectionMemoryTests(ITestOutputHelper output) : IDisposable
{
    private const int Warm = 50;
    private const int Held = 1000;

    // About 855 bytes are measured; the bound leaves room for the runtime and layout, and fails on any frame, task or
    // buffer held per connection (the smallest of those, a pooled frame, is about 200 bytes).
    private const long MaxBytesPerConnection = 1024;

    private readonly EventLoopGroup _loops = new(1);
    private readonly SessionTable _sessions = new();
    private readonly List<int> _clientFds = [];
    private readonly ConnectionTracker _tracker = new();

    public void Dispose()
    {
        _sessions.AbortAll();
        _ = _tracker.WhenDrained().Wait(TimeSpan.FromSeconds(30));
        foreach (var fd in _clientFds)
        {
            _ = LibC.close(fd);
        }

        _loops.Dispose();
    }

    private sealed class FixedInbound(InboundProfile profile, Destination destination) : IInbound
    {
        public InboundProfile Profile { get; } = profile;

        public ValueTask<InboundRequest> ReceiveAsync(Session session, Memory<byte> buffer) => ValueTask.FromResult(InboundRequest.For(destination));

        public ValueTask<bool> ReplyAsync(Session session, DialResult result) => ValueTask.FromResult(result.Succeeded);
    }

    [Fact]
    public async Task HeldIdleConnections_RetainAtMostOneKilobyteEach()
    {
        // The destination's connections wait in its backlog, never accepted: nothing of them is on this heap.
        using var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        target.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        target.Listen(Warm + Held + Held + 64);
        var destination = Destination.FromEndPoint((IPEndPoint)target.LocalEndPoint!);

        var pipeline = new ConnectionPipeline(_loops, _sessions, NullLogger.Instance);
        var profile = new InboundProfile(
            "memory", new InboundStats("memory"), new Admission(), AdmissionLimits.None,
            new Route(new DirectDialer(TimeSpan.FromSeconds(10)), DestinationPolicy.AllowAll, TimeSpan.FromSeconds(5)),
            new RelaySettings { IdleTimeout = TimeSpan.FromMinutes(5) }, RepliesInBand: false, RequestBufferSize: 0);
        var inbound = new FixedInbound(profile, destination);
        using var listener = LinuxSocket.Listen(new IPEndPoint(IPAddress.Loopback, 0), _loops.Next());
        var proxy = listener.GetLocalEndPoint()!;

        // Two equal steps after a warm-up, and the smaller of them: a one-time allocation of the runtime's (seen: about
        // 290 KB, at a different moment from run to run under the JIT) lands in at most one of them, and each connection's
        // own bytes are in both.
        await HoldAsync(Warm, inbound, pipeline, listener, proxy);
        var first = LiveBytes();
        await HoldAsync(Held, inbound, pipeline, listener, proxy);
        var second = LiveBytes();
        await HoldAsync(Held, inbound, pipeline, listener, proxy);
        var third = LiveBytes();

        Assert.Equal(Warm + Held + Held, _sessions.Count);
        Assert.Equal(Warm + Held + Held, _tracker.Pending);
        var perConnection = Math.Min(second - first, third - second) / Held;
        output.WriteLine($"{perConnection} managed bytes per idle connection (steps of {Held}: {(second - first) / Held}, {(third - second) / Held})");
        Assert.True(perConnection <= MaxBytesPerConnection, $"{perConnection} managed bytes per idle connection");
    }

    private static long LiveBytes()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        return info.HeapSizeBytes - info.FragmentedBytes;
    }

    /// <summary>Opens <paramref name="count"/> connections through the pipeline and waits until each is relaying.</summary>
    private async Task HoldAsync(int count, IInbound inbound, ConnectionPipeline pipeline, LinuxSocket listener, IPEndPoint proxy)
    {
        var target = _sessions.Count + count;
        for (var i = 0; i < count; i++)
        {
            // Only the descriptor is kept, so the client side leaves nothing on the heap that is measured.
            using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await client.ConnectAsync(proxy);
                _clientFds.Add(LibC.dup((int)client.SafeHandle.DangerousGetHandle()));
            }

            var accepted = await listener.AcceptAsync();
            Assert.True(accepted.Fd >= 0, accepted.Error.ToString());
            // As a listener starts them: with its tracker, so no task per connection is held that a listener would not hold.
            pipeline.Start(inbound, LinuxSocket.Adopt(accepted.Fd, _loops.Next(), alreadyNonBlocking: true), accepted.Remote!, _tracker);
        }

        // Set-up, not the property under test: waited for, with a bound only so that a broken pipeline cannot hang.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (_sessions.Snapshot().Count(s => s.State == SessionState.Established) < target)
        {
            Assert.True(DateTime.UtcNow < deadline, "the connections did not all reach the relay");
            await Task.Delay(20);
        }
    }
}
