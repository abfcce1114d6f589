using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Http;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// The HTTP/1.1 listener behind <c>/metrics</c>: GET or HEAD of one path, one request per connection. It is exposed
/// to whatever can reach <c>metrics.listen</c>, so it is built to be attacked: a head is read within a size and a time
/// limit, a handful of connections at most are served at once, and when all of them are taken the oldest one still
/// sending its head is closed for the newcomer, so clients that connect and stall cannot lock Prometheus out.
/// </summary>
internal sealed partial class ScrapeServer : IAsyncDisposable
{
    public const string ScrapePath = "/metrics";
    public const int MaxHeadLength = 8 * 1024;
    public const int MaxConnections = 16;

    private readonly Socket _listener;
    private readonly Func<string> _body;
    private readonly ILogger _logger;
    private readonly TimeSpan _timeout;
    private readonly CancellationTokenSource _stop = new();
    private readonly LinkedList<Connection> _connections = [];
    private readonly Lock _gate = new();
    private readonly Task _acceptLoop;
    private long _evicted;
    private long _lastWarning = long.MinValue;

    private ScrapeServer(Socket listener, Func<string> body, ILogger logger, TimeSpan timeout)
    {
        _listener = listener;
        _body = body;
        _logger = logger;
        _timeout = timeout;
        _acceptLoop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Binds <paramref name="listen"/> (IPv4 or IPv6; <c>[::]</c> takes IPv4 too) and starts serving; throws <see cref="SocketException"/> when it cannot.</summary>
    /// <param name="timeout">How long a client has to send its head, and to take the response.</param>
    public static ScrapeServer Start(IPEndPoint listen, Func<string> body, ILogger logger, TimeSpan? timeout = null)
    {
        var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (listen.Address.Equals(IPAddress.IPv6Any))
            {
                listener.DualMode = true;
            }

            // SO_REUSEADDR alone, so a restart binds past TIME_WAIT. Not SocketOptionName.ReuseAddress: on Linux
            // .NET sets SO_REUSEPORT with it, which would let a second daemon share the port instead of failing.
            const int solSocket = 1, soReuseAddr = 2;
            listener.SetRawSocketOption(solSocket, soReuseAddr, BitConverter.GetBytes(1));
            listener.Bind(listen);
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return new ScrapeServer(listener, body, logger, timeout ?? TimeSpan.FromSeconds(10));
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException ex)
            {
                // EMFILE and the like: the listener is still good, and the backlog waits for fds to come back.
                if (ShouldWarn())
                {
                    Log.AcceptFailed(_logger, ex.Message);
                }

                try
                {
                    await Task.Delay(100, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            var connection = Admit(client);
            _ = ServeAsync(connection);
        }
    }

    /// <summary>Tracks the newcomer, first closing the oldest connection still reading its head when every slot is taken.</summary>
    private Connection Admit(Socket client)
    {
        var connection = new Connection(client, CancellationTokenSource.CreateLinkedTokenSource(_stop.Token));
        Connection? evict = null;
        lock (_gate)
        {
            if (_connections.Count >= MaxConnections)
            {
                for (var node = _connections.First; node is not null; node = node.Next)
                {
                    if (node.Value.ReadingHead)
                    {
                        evict = node.Value;
                        break;
                    }
                }
            }

            connection.Node = _connections.AddLast(connection);
        }

        if (evict is not null)
        {
            Interlocked.Increment(ref _evicted);
            if (ShouldWarn())
            {
                Log.Evicted(_logger, MaxConnections, Interlocked.Exchange(ref _evicted, 0));
            }

            evict.Cancel.Cancel();
        }

        return connection;
    }

    private async Task ServeAsync(Connection connection)
    {
        var client = connection.Socket;
        var buffer = ArrayPool<byte>.Shared.Rent(MaxHeadLength);
        try
        {
            connection.Cancel.CancelAfter(_timeout);
            var parse = await ReadHeadAsync(client, buffer, connection.Cancel.Token).ConfigureAwait(false);
            connection.ReadingHead = false;
            if (parse is null)
            {
                return;
            }

            var (status, headers, body) = Respond(parse.Value);
            var head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {status.ToString(CultureInfo.InvariantCulture)} {HttpReasonPhrase.Of(status)}\r\n{headers}Content-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n");
            var sendBody = parse.Value.Status != HttpRequestStatus.Done || parse.Value.Head.Method != "HEAD";
            await SendAllAsync(client, head, connection.Cancel.Token).ConfigureAwait(false);
            if (sendBody)
            {
                await SendAllAsync(client, body, connection.Cancel.Token).ConfigureAwait(false);
            }

            // A lingering close: the client may still be sending (a body, a pipelined request), and closing with
            // unread bytes would reset the connection and could take the response with it.
            client.Shutdown(SocketShutdown.Send);
            await DrainAsync(client, buffer, connection.Cancel.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            Log.ConnectionEnded(_logger, ex.Message);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            lock (_gate)
            {
                _connections.Remove(connection.Node!);
            }

            connection.Cancel.Dispose();
            client.Dispose();
        }
    }

    /// <summary>The head as parsed (Done, Invalid or TooLarge), or null when the client went away before sending one.</summary>
    private static async Task<HttpRequestParse?> ReadHeadAsync(Socket client, byte[] buffer, CancellationToken token)
    {
        var filled = 0;
        while (true)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(filled, MaxHeadLength - filled), SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0)
            {
                return null;
            }

            filled += n;
            var parse = HttpRequestHeadParser.Parse(buffer.AsSpan(0, filled), MaxHeadLength);
            if (parse.Status != HttpRequestStatus.NeedMoreData)
            {
                return parse;
            }
        }
    }

    private (int Status, string Headers, byte[] Body) Respond(HttpRequestParse parse)
    {
        switch (parse.Status)
        {
            case HttpRequestStatus.TooLarge:
                return (431, PlainText, "request head too large\n"u8.ToArray());
            case HttpRequestStatus.Invalid:
                return (400, PlainText, Encoding.ASCII.GetBytes($"bad request: {parse.Error}\n"));
        }

        var head = parse.Head;
        if (head.Method is not ("GET" or "HEAD"))
        {
            return (405, $"Allow: GET, HEAD\r\n{PlainText}", "only GET and HEAD\n"u8.ToArray());
        }

        if (head.Path != ScrapePath)
        {
            return (404, PlainText, "not found: metrics are at /metrics\n"u8.ToArray());
        }

        return (200, $"Content-Type: {PrometheusExposition.ContentType}\r\n", Encoding.UTF8.GetBytes(_body()));
    }

    private const string PlainText = "Content-Type: text/plain; charset=utf-8\r\n";

    private static async Task SendAllAsync(Socket client, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        while (!data.IsEmpty)
        {
            var n = await client.SendAsync(data, SocketFlags.None, token).ConfigureAwait(false);
            data = data[n..];
        }
    }

    private static async Task DrainAsync(Socket client, byte[] buffer, CancellationToken token)
    {
        // Bounded in bytes as well as in time (the connection's timeout): a client streaming forever only wastes a slot until then.
        for (var total = 0; total < 64 * 1024;)
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0)
            {
                return;
            }

            total += n;
        }
    }

    /// <summary>At most one warning per 10 s: a flood must not become a flood of log lines too.</summary>
    private bool ShouldWarn()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastWarning);
        return (last == long.MinValue || now - last >= 10_000) && Interlocked.CompareExchange(ref _lastWarning, now, last) == last;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);

        // _stop is not disposed: connections still closing hold tokens linked to it, and it owns no timer.
    }

    private sealed class Connection(Socket socket, CancellationTokenSource cancel)
    {
        public Socket Socket { get; } = socket;

        public CancellationTokenSource Cancel { get; } = cancel;

        public LinkedListNode<Connection>? Node { get; set; }

        /// <summary>Still waiting for the head: the only state in which a connection may be closed for a newcomer.</summary>
        public volatile bool ReadingHead = true;
    }

    private static partial class Log
    {
        [LoggerMessage(3003, LogLevel.Debug, "metrics: scrape connection ended: {Reason}")]
        public static partial void ConnectionEnded(ILogger logger, string reason);

        [LoggerMessage(3004, LogLevel.Warning, "metrics: all {Max} connections taken; closed the oldest one still sending its request ({Count} since the last warning)")]
        public static partial void Evicted(ILogger logger, int max, long count);

        [LoggerMessage(3005, LogLevel.Warning, "metrics: accept failed: {Reason}")]
        public static partial void AcceptFailed(ILogger logger, string reason);
    }
}
