using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Tests.Sockets;

/// <summary>
/// A test class's fixture: one accepted loopback connection, our LinuxSocket on one side (<see cref="Accepted"/>) and
/// a .NET socket on the other (<see cref="Peer"/>), on an event loop of its own.
/// </summary>
public abstract class AcceptedSocketTest : IAsyncLifetime
{
    private readonly EventLoopGroup _loops = new(1);
    private LinuxSocket? _listener;
    private Socket? _peer;
    private LinuxSocket? _socket;

    protected LinuxSocket Accepted => _socket!;

    protected Socket Peer => _peer!;

    protected LinuxSocket Listener => _listener!;

    public async Task InitializeAsync()
    {
        _listener = LinuxSocket.Listen(new IPEndPoint(IPAddress.Loopback, 0), _loops.Next());
        _peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        ConfigurePeer(_peer);
        var connect = _peer.ConnectAsync(_listener.GetLocalEndPoint()!);
        var accepted = await _listener.AcceptAsync();
        Assert.True(accepted.Fd >= 0, $"accept: {accepted.Error}");
        await connect;
        _socket = LinuxSocket.Adopt(accepted.Fd, _loops.Next());
    }

    public Task DisposeAsync()
    {
        _peer?.Dispose();
        _socket?.Dispose();
        _listener?.Dispose();
        _loops.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Options the peer needs before it connects (a small receive buffer, say).</summary>
    protected virtual void ConfigurePeer(Socket peer)
    {
    }
}
