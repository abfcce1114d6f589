using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Tests.Sockets;

/// <summary>
/// A socket's Writable readiness exists only once something has had to wait to write: an idle session holds one object
/// fewer per socket. What must hold: a send that meets a full buffer still waits and finishes, and a readiness made
/// after an abort is born aborted. The socket is an accepted loopback connection.
/// </summary>
[Trait("Category", "Unit")]
public sealed class LazyWritableTests : AcceptedSocketTest
{
    protected override void ConfigurePeer(Socket peer) => peer.ReceiveBufferSize = 4096;

    [Fact]
    public async Task SendThatFits_NeverCreatesTheWritableReadiness()
    {
        var sent = await Accepted.SendAsync(new byte[1000]);

        Assert.Equal(1000, sent.Bytes);
        Assert.Equal(LinuxSocket.NoTick, Accepted.WritableTick);
    }

    [Fact]
    public async Task SendIntoAFullBuffer_WaitsForRoomAndDeliversEveryByte()
    {
        const int solSocket = 1, soSndBuf = 7;
        Assert.Equal(Errno.None, Accepted.SetOption(solSocket, soSndBuf, 4096));
        var data = new byte[4 << 20];
        Random.Shared.NextBytes(data);

        var send = Accepted.SendAsync(data).AsTask();
        await Task.Delay(200);
        Assert.False(send.IsCompleted, "4 MiB cannot fit a 4 KiB send buffer and a peer that has not read");
        Assert.NotEqual(LinuxSocket.NoTick, Accepted.WritableTick);

        var received = new byte[data.Length];
        var total = 0;
        while (total < received.Length)
        {
            var n = await Peer.ReceiveAsync(received.AsMemory(total)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(n > 0, $"EOF after {total} bytes");
            total += n;
        }

        var result = await send.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(result.HasError, result.Error.ToString());
        Assert.Equal(data.Length, result.Bytes);
        Assert.True(data.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task WritableMadeAfterAnAbort_IsBornAbortedAndEndsEveryWaitAtOnce()
    {
        Accepted.Abort(Errno.ECANCELED);
        Assert.Equal(LinuxSocket.NoTick, Accepted.WritableTick);

        var writable = Accepted.Writable;
        Assert.Equal(Errno.ECANCELED, writable.AbortError);
        var wait = writable.WaitAsync(writable.Tick);
        Assert.True(wait.IsCompleted);
        Assert.Equal(Errno.ECANCELED, await wait);
    }
}
