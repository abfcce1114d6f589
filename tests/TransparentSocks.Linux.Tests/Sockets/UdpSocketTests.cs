using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Linux.Tests.Sockets;

/// <summary>The batched UDP calls on loopback: recvmmsg with sources and IP_ORIGDSTADDR, sendmmsg through the queue.</summary>
[Trait("Category", "Unit")]
public sealed class UdpSocketTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly Loop _loop = new("ts-test-udp");
    private readonly UdpBatch _batch = new(8, 9000);
    private readonly UdpSendQueue _queue = new(8);

    public void Dispose()
    {
        _loop.Dispose();
        _batch.Dispose();
        _queue.Dispose();
    }

    private sealed class Signal : IUdpReceiver
    {
        public readonly SemaphoreSlim Readable = new(0);

        public void OnReadable(UdpSocket socket) => Readable.Release();
    }

    private UdpSocket Open(AddressFamily family, IPEndPoint bind, Signal signal)
    {
        Assert.Equal(Errno.None, UdpSocket.TryOpen(family, _loop, signal, out var socket));
        Assert.Equal(Errno.None, socket!.Bind(bind));
        return socket;
    }

    private async Task<int> ReceiveAllAsync(UdpSocket socket, Signal signal, int expected, List<(int Length, UdpEndpoint Source, UdpEndpoint Destination)> into)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (into.Count < expected && DateTime.UtcNow < deadline)
        {
            var error = _batch.Receive(socket, withControl: true);
            if (error == Errno.EAGAIN)
            {
                await signal.Readable.WaitAsync(TimeSpan.FromMilliseconds(200));
                continue;
            }

            Assert.Equal(Errno.None, error);
            for (var i = 0; i < _batch.Count; i++)
            {
                Assert.True(_batch.TryGetSource(i, out var source));
                Assert.True(_batch.TryGetOriginalDestination(i, out var destination));
                Assert.False(_batch.IsTruncated(i));
                Assert.Equal((byte)(into.Count % 251), _batch.Datagram(i)[0]);
                into.Add((_batch.Length(i), source, destination));
            }
        }

        return into.Count;
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task SendQueue_ARunOfDatagrams_ArrivesInOrderWithSourceAndOriginalDestination(string loopback)
    {
        var address = IPAddress.Parse(loopback);
        var family = address.AddressFamily;
        var receiverSignal = new Signal();
        using var receiver = Open(family, new IPEndPoint(address, 0), receiverSignal);
        Assert.Equal(Errno.None, receiver.SetReceiveOriginalDestination());
        Assert.True(receiver.TryGetLocalEndpoint(out var to));
        using var sender = Open(family, new IPEndPoint(address, 0), new Signal());
        Assert.True(sender.TryGetLocalEndpoint(out var from));

        // The sender's datagrams are staged in a batch of its own, as the relay stages them in the batch it read.
        using var staging = new UdpBatch(5, 9000);
        int[] sizes = [1, 512, 1400, 8000, 3];
        for (var i = 0; i < sizes.Length; i++)
        {
            staging.Slot(i).Slice(UdpBatch.Headroom, sizes[i]).Fill((byte)(i % 251));
            Assert.Equal(0, _queue.Add(sender, staging, i, UdpBatch.Headroom, sizes[i], to));
        }

        Assert.Equal(0, _queue.Flush());

        var received = new List<(int Length, UdpEndpoint Source, UdpEndpoint Destination)>();
        Assert.Equal(sizes.Length, await ReceiveAllAsync(receiver, receiverSignal, sizes.Length, received));
        Assert.Equal(sizes, received.Select(r => r.Length));
        Assert.All(received, r => Assert.Equal(from, r.Source));
        Assert.All(received, r => Assert.Equal(to, r.Destination));
    }

    [Fact]
    public async Task Receive_ADatagramLongerThanTheSlot_IsFlaggedTruncated()
    {
        var signal = new Signal();
        using var receiver = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), signal);
        Assert.True(receiver.TryGetLocalEndpoint(out var to));
        using var sender = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), new Signal());

        Assert.Equal(Errno.None, sender.SendTo(new byte[9001], to));

        var deadline = DateTime.UtcNow + Wait;
        Errno error;
        while ((error = _batch.Receive(receiver)) == Errno.EAGAIN && DateTime.UtcNow < deadline)
        {
            await signal.Readable.WaitAsync(TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal(Errno.None, error);
        Assert.Equal(1, _batch.Count);
        Assert.True(_batch.IsTruncated(0));
    }

    [Fact]
    public void Connect_ThenSend_ReachesOnlyThePeer_AndDatagramsFromOthersAreNotReceived()
    {
        var signal = new Signal();
        using var a = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), signal);
        using var b = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), new Signal());
        using var stranger = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), new Signal());
        Assert.True(a.TryGetLocalEndpoint(out var aAt));
        Assert.True(b.TryGetLocalEndpoint(out var bAt));
        Assert.Equal(Errno.None, a.Connect(bAt));

        Assert.Equal(Errno.None, stranger.SendTo([1, 2, 3], aAt));
        Assert.Equal(Errno.None, b.SendTo([9], aAt));
        Assert.Equal(Errno.None, a.Send([7]));

        Assert.True(SpinReceive(a, out var length, out var source));
        Assert.Equal(1, length);
        Assert.Equal(bAt, source);
        Assert.Equal(Errno.EAGAIN, _batch.Receive(a));
    }

    [Fact]
    public void Close_Twice_IsHarmless_AndReceiveOnAClosedSocketSaysEbadf()
    {
        var socket = Open(AddressFamily.InterNetwork, new IPEndPoint(IPAddress.Loopback, 0), new Signal());
        socket.Close();
        socket.Close();
        Assert.True(socket.IsClosed);
        Assert.Equal(Errno.EBADF, _batch.Receive(socket));
    }

    private bool SpinReceive(UdpSocket socket, out int length, out UdpEndpoint source)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline)
        {
            if (_batch.Receive(socket) == Errno.None)
            {
                length = _batch.Length(0);
                return _batch.TryGetSource(0, out source);
            }

            Thread.Sleep(10);
        }

        length = 0;
        source = default;
        return false;
    }
}
