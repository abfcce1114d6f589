using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Inbound;

/// <summary>
/// Handshake starvation (issue 11): connections from one loopback source that send one byte and stall, while an
/// honest client from another loopback source makes requests through the server. 127.0.0.2 and 127.0.0.3 are
/// loopback on Linux, so the two are distinct sources without a namespace. Every loop is bounded in count and time.
/// </summary>
[Collection(nameof(FdSensitive))]
[Trait("Category", "Unit")]
public sealed class Socks5ServerStarvationTests
{
    private static readonly IPAddress AttackerAddress = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress HonestAddress = IPAddress.Parse("127.0.0.3");
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(5);
    private const int HonestRequests = 50;

    [Fact]
    public async Task StalledHandshakes_FromOneSource_HoldNoMoreThanThePerClientCap()
    {
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(maxHandshakes: 512, maxHandshakesPerClient: 32);
        var admission = server.Server.Profile.Admission;
        var stalled = new List<Socket>();
        try
        {
            for (var i = 0; i < 600; i++)
            {
                stalled.Add(await StallAsync(server.EndPoint));
            }

            Assert.True(await Poll.UntilAsync(() => server.Server.Stats.Accepted >= 600, StepTimeout));
            Assert.True(await Poll.UntilAsync(() => server.Server.Stats.Rejected >= 600 - 32, StepTimeout));
            Assert.Equal(32, admission.HandshakesFrom(AttackerAddress));
            Assert.Equal(32, admission.Handshakes);

            var served = await HonestRequestsAsync(server.EndPoint, target, HonestRequests);
            Assert.True(served >= HonestRequests * 95 / 100, $"{served} of {HonestRequests} honest requests served");
            Assert.Equal(32, admission.HandshakesFrom(AttackerAddress));
        }
        finally
        {
            stalled.ForEach(s => s.Dispose());
        }

        Assert.True(await Poll.UntilAsync(() => admission.Connections == 0 && admission.Sources == 0, StepTimeout));
    }

    [Fact]
    public async Task StalledHandshakes_RefilledWhileTheBudgetIsFull_DoNotKeepAnHonestClientOut()
    {
        // One source may hold the whole budget here, so only eviction stands between it and the honest client.
        await using var target = new HttpTarget(IPAddress.Loopback);
        await using var server = ServerHarness.Start(maxHandshakes: 64, maxHandshakesPerClient: 64);
        var admission = server.Server.Profile.Admission;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var attack = Task.Run(() => RefillAsync(server.EndPoint, stop.Token));
        try
        {
            Assert.True(await Poll.UntilAsync(() => admission.Handshakes == 64 || attack.IsCompleted, StepTimeout));
            Assert.False(attack.IsCompleted);

            var served = await HonestRequestsAsync(server.EndPoint, target, HonestRequests);

            Assert.True(served >= HonestRequests * 95 / 100, $"{served} of {HonestRequests} honest requests served");
            Assert.True(server.Server.Stats.Evicted > 0);
        }
        finally
        {
            await stop.CancelAsync();
            var opened = await attack;
            Assert.True(opened > 64, $"the attacker opened {opened} connections");
        }

        Assert.True(await Poll.UntilAsync(() => admission.Connections == 0 && admission.Sources == 0, StepTimeout));
    }

    /// <summary>
    /// Keeps opening stalled connections as fast as it can, up to 600 held at once (the oldest let go for a new one)
    /// and 20,000 in all; returns how many it opened.
    /// </summary>
    private static async Task<int> RefillAsync(IPEndPoint server, CancellationToken stop)
    {
        var held = new Queue<Socket>();
        var opened = 0;
        try
        {
            while (!stop.IsCancellationRequested && opened < 20_000)
            {
                try
                {
                    held.Enqueue(await StallAsync(server));
                    opened++;
                }
                catch (SocketException)
                {
                    // An RST'd connect: the server is busy, which is the point; try again.
                }

                if (held.Count > 600)
                {
                    held.Dequeue().Dispose();
                }
            }
        }
        finally
        {
            while (held.TryDequeue(out var socket))
            {
                socket.Dispose();
            }
        }

        return opened;
    }

    /// <summary>A connection from the attacker's address that sends the first byte of a greeting and stops.</summary>
    private static async Task<Socket> StallAsync(IPEndPoint server)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(AttackerAddress, 0));
            try
            {
                await socket.ConnectAsync(server).WaitAsync(StepTimeout);
                await socket.SendAsync(new byte[] { 5 });
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                // Refused or evicted already, before the connect was even reported: the next one goes on.
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>One request after another from the honest address; returns how many got the target's whole answer.</summary>
    private static async Task<int> HonestRequestsAsync(IPEndPoint server, HttpTarget target, int count)
    {
        var served = 0;
        for (var i = 0; i < count; i++)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(HonestAddress, 0));
                await socket.ConnectAsync(server).WaitAsync(StepTimeout);
                var reply = await Socks5TestClient.HandshakeAsync(socket, Destination.FromEndPoint(target.EndPoint)).WaitAsync(StepTimeout);
                if (reply.Code != Socks5ReplyCode.Succeeded)
                {
                    continue;
                }

                await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /{i} HTTP/1.1\r\nHost: target\r\n\r\n"));
                var response = await Socks5TestClient.ReadToEndAsync(socket, StepTimeout);
                if (Encoding.UTF8.GetString(response).EndsWith(target.Body, StringComparison.Ordinal))
                {
                    served++;
                }
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException or OperationCanceledException or InvalidOperationException or IOException)
            {
                // A refused or reset request is what the test counts; the next one goes on.
            }
        }

        return served;
    }
}
