using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Sends every datagram back to whoever sent it, unchanged, and records where each one came from.
/// It is in-process, so <c>lab.Target.CreateInside(() =&gt; new UdpEchoTarget(IPAddress.Any, port: 7))</c>
/// places it in the target namespace, like the TCP targets.
/// </summary>
public sealed class UdpEchoTarget : IAsyncDisposable
{
    /// <summary>The largest UDP payload over IPv4; IPv6 would allow 20 bytes more, which no test needs.</summary>
    public const int MaxDatagramSize = 65507;

    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<UdpEchoRecord> _received = new();
    private readonly ConcurrentQueue<Exception> _errors = new();
    private readonly Task _loop;
    private int _disposed;

    /// <param name="reuseAddress">SO_REUSEADDR, as dnsmasq and most DNS servers set it on their UDP sockets.</param>
    public UdpEchoTarget(IPAddress address, int port = 0, bool reuseAddress = false)
    {
        _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (reuseAddress)
            {
                _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }

            // The load tests send a thousand datagrams in a burst; the default buffer would drop some before we read.
            _socket.ReceiveBufferSize = 4 * 1024 * 1024;
            _socket.Bind(new IPEndPoint(address, port));
        }
        catch
        {
            _socket.Dispose();
            throw;
        }

        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;

        // The first receive only registers with the socket engine, whose threads live in the test's own
        // namespace, so this is safe inside a CreateInside factory.
        _loop = EchoLoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Every datagram received, in arrival order: its source and payload size.</summary>
    public IReadOnlyList<UdpEchoRecord> Received => [.. _received];

    /// <summary>Socket errors other than those disposal causes.</summary>
    public IReadOnlyList<Exception> Errors => [.. _errors];

    /// <summary>Polls until at least <paramref name="count"/> datagrams have arrived. False on timeout.</summary>
    public Task<bool> WaitForDatagramsAsync(int count, TimeSpan timeout)
        => Poll.UntilAsync(() => _received.Count >= count, timeout);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        _socket.Dispose();
        await Task.WhenAny(_loop, Task.Delay(DisposeTimeout));
        _stopping.Dispose();
    }

    private async Task EchoLoopAsync()
    {
        var buffer = new byte[MaxDatagramSize + 1];
        EndPoint any = new IPEndPoint(EndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token);
                var source = (IPEndPoint)result.RemoteEndPoint;
                _received.Enqueue(new UdpEchoRecord(source, result.ReceivedBytes));
                await _socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), SocketFlags.None, source, _stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused
                or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            {
                // An ICMP error for an earlier reply; the next datagram is unaffected.
                _errors.Enqueue(ex);
            }
            catch (Exception ex)
            {
                _errors.Enqueue(ex);
                return;
            }
        }
    }
}

/// <summary>One datagram a <see cref="UdpEchoTarget"/> received (and echoed).</summary>
public sealed record UdpEchoRecord(IPEndPoint Source, int Size);
