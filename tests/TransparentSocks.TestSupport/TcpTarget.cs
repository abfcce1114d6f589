using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

/// <summary>
/// An in-process TCP server for tests to connect to, directly or through a proxy. It records who
/// connected and any exception a connection handler threw; disposal stops accepting, aborts open
/// connections and waits for their handlers.
/// </summary>
public abstract class TcpTarget : IAsyncDisposable
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<IPEndPoint> _clients = new();
    private readonly ConcurrentQueue<Exception> _errors = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private readonly ConcurrentBag<Task> _handlers = [];
    private Task _acceptLoop = Task.CompletedTask;
    private int _completed;
    private int _disposed;

    protected TcpTarget(IPAddress address, int port)
    {
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(address, port));
            _listener.Listen(512);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }

        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The remote endpoint of every accepted connection, in accept order.</summary>
    public IReadOnlyList<IPEndPoint> Clients => [.. _clients];

    /// <summary>Exceptions thrown by connection handlers (resets, aborts, protocol surprises).</summary>
    public IReadOnlyList<Exception> Errors => [.. _errors];

    /// <summary>Connections whose handler has finished, successfully or not.</summary>
    public int CompletedConnections => Volatile.Read(ref _completed);

    /// <summary>Polls until <paramref name="count"/> connections have finished. False on timeout.</summary>
    public async Task<bool> WaitForCompletedConnectionsAsync(int count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (CompletedConnections < count)
        {
            if (clock.Elapsed >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener.Dispose();
        foreach (var socket in _open.Keys)
        {
            socket.Dispose();
        }

        await Task.WhenAny(Task.WhenAll([_acceptLoop, .. _handlers]), Task.Delay(DisposeTimeout));
        _stopping.Dispose();
    }

    /// <summary>Serves one accepted connection. The socket is closed after this returns.</summary>
    protected abstract Task HandleAsync(Socket client, CancellationToken cancellationToken);

    /// <summary>Called last by each derived constructor, so handlers never see a half-built object.</summary>
    protected void StartAccepting() => _acceptLoop = AcceptLoopAsync();

    /// <summary>Reads until the peer shuts down its write side; returns the byte count.</summary>
    protected static async Task<long> DrainAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        long total = 0;
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return total;
            }

            total += read;
        }
    }

    /// <summary>Sends all of <paramref name="data"/>, however many calls it takes.</summary>
    protected static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException
                && _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _errors.Enqueue(ex);
                return;
            }

            _clients.Enqueue((IPEndPoint)client.RemoteEndPoint!);
            _open[client] = 0;
            _handlers.Add(Task.Run(() => RunHandlerAsync(client)));
        }
    }

    private async Task RunHandlerAsync(Socket client)
    {
        try
        {
            await HandleAsync(client, _stopping.Token);
        }
        catch (Exception) when (_stopping.IsCancellationRequested)
        {
            // Aborted by disposal.
        }
        catch (Exception ex)
        {
            _errors.Enqueue(ex);
        }
        finally
        {
            _open.TryRemove(client, out _);
            client.Dispose();
            Interlocked.Increment(ref _completed);
        }
    }
}
