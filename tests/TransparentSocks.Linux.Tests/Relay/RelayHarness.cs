using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Tests.Relay;

/// <summary>
/// client (.NET socket) → [accepted LinuxSocket ⇄ relay ⇄ connected LinuxSocket] → target (.NET socket), all on loopback.
/// </summary>
internal sealed class RelayHarness : IAsyncDisposable
{
    private readonly LinuxSocket _listener;

    private RelayHarness(EventLoopGroup loops, LinuxSocket listener, Socket client, Socket target, LinuxSocket inbound, LinuxSocket outbound)
    {
        Loops = loops;
        _listener = listener;
        Client = client;
        Target = target;
        Inbound = inbound;
        Outbound = outbound;
    }

    public EventLoopGroup Loops { get; }

    public Socket Client { get; }

    public Socket Target { get; }

    public LinuxSocket Inbound { get; }

    public LinuxSocket Outbound { get; }

    public RelayCounters Counters { get; } = new();

    public Task<RelayResult>? Relay { get; private set; }

    public static async Task<RelayHarness> StartAsync(RelaySettings settings, EventLoopGroup? loops = null)
    {
        loops ??= new EventLoopGroup(2);
        var listener = LinuxSocket.Listen(new IPEndPoint(IPAddress.Loopback, 0), loops.Next());
        var proxyEndPoint = listener.GetLocalEndPoint()!;

        using var targetListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        targetListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        targetListener.Listen();

        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connectTask = client.ConnectAsync(proxyEndPoint);
        var accepted = await listener.AcceptAsync();
        Assert.True(accepted.Fd >= 0, $"accept: {accepted.Error}");
        await connectTask;
        var inbound = LinuxSocket.Adopt(accepted.Fd, loops.Next());

        var outbound = LinuxSocket.Create(AddressFamily.InterNetwork, inbound.Loop);
        var targetAccept = targetListener.AcceptAsync();
        var connectError = await outbound.ConnectAsync((IPEndPoint)targetListener.LocalEndPoint!);
        Assert.Equal(Interop.Errno.None, connectError);
        var target = await targetAccept;

        var harness = new RelayHarness(loops, listener, client, target, inbound, outbound);
        harness.Relay = Task.Run(() => SocketRelay.RunAsync(inbound, outbound, settings, harness.Counters).AsTask());
        return harness;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Target.Dispose();
        if (Relay is not null)
        {
            await Relay.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Inbound.Dispose();
        Outbound.Dispose();
        _listener.Dispose();
        Loops.Dispose();
    }
}
