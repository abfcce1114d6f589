using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Tests.Support;

/// <summary>What the stub saw: the request line, the headers, and the body as text.</summary>
public sealed record RecordedRequest(string Method, string Target, string Version, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public T BodyAs<T>(JsonTypeInfo<T> type) => JsonSerializer.Deserialize(Body, type)
        ?? throw new InvalidOperationException($"The body of {Method} {Target} is JSON null.");
}

public sealed record StubReply(int Status, string Body)
{
    public static StubReply Ok<T>(T value, JsonTypeInfo<T> type) => new(200, JsonSerializer.Serialize(value, type));

    public static StubReply Error(int status, string code, string message, string? field = null)
        => new(status, JsonSerializer.Serialize(new ErrorResponse(new ErrorBody(code, message, field)), ControlJsonContext.Default.ErrorResponse));
}

/// <summary>
/// A stand-in for transparentsocksd's control socket: HTTP/1.1 on a Unix socket, one request per connection, bodies
/// framed by Content-Length, every answer with <c>Connection: close</c>. It records each request and answers with
/// whatever the test set for that route (404 not_found otherwise).
/// </summary>
public sealed class StubControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, StubReply> _replies = new(StringComparer.Ordinal);
    private readonly Task _acceptLoop;
    private StubReply? _replyToAll;

    private StubControlServer(string socketPath)
    {
        SocketPath = socketPath;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(16);
        _acceptLoop = AcceptLoopAsync();
    }

    public string SocketPath { get; }

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public static StubControlServer Start(string socketPath) => new(socketPath);

    /// <summary>Answers <paramref name="method"/> on <paramref name="path"/> (query ignored) with <paramref name="reply"/>.</summary>
    public StubControlServer On(HttpMethod method, string path, StubReply reply)
    {
        _replies[Key(method.Method, path)] = reply;
        return this;
    }

    /// <summary>Answers every request with <paramref name="reply"/>, whatever its route.</summary>
    public void ReplyToAll(StubReply reply) => _replyToAll = reply;

    public RecordedRequest SingleRequest() => Assert.Single(Requests);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        File.Delete(SocketPath);
    }

    private static string Key(string method, string path) => $"{method} {path}";

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = ServeAsync(connection);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        using (connection)
        {
            using var stream = new NetworkStream(connection, ownsSocket: false);
            try
            {
                var request = await ReadRequestAsync(stream, _stop.Token);
                if (request is null)
                {
                    return;
                }

                _requests.Enqueue(request);
                var path = request.Target.Split('?', 2)[0];
                var reply = _replyToAll
                    ?? (_replies.TryGetValue(Key(request.Method, path), out var routed)
                        ? routed
                        : StubReply.Error(404, ErrorCodes.NotFound, $"no route {request.Method} {path} in the stub"));
                await WriteReplyAsync(stream, reply, _stop.Token);
                connection.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // The client went away; whatever it sent is already recorded.
            }
        }
    }

    private static async Task<RecordedRequest?> ReadRequestAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(buffer)) < 0)
        {
            var read = await stream.ReadAsync(chunk, ct);
            if (read == 0)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        var all = buffer.ToArray();
        var head = Encoding.ASCII.GetString(all, 0, headerEnd).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var length = headers.TryGetValue("Content-Length", out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
        var body = new MemoryStream();
        body.Write(all, headerEnd + 4, all.Length - headerEnd - 4);
        while (body.Length < length)
        {
            var read = await stream.ReadAsync(chunk, ct);
            if (read == 0)
            {
                break;
            }

            body.Write(chunk, 0, read);
        }

        return new RecordedRequest(requestLine[0], requestLine[1], requestLine[2], headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    private static int IndexOfHeaderEnd(MemoryStream buffer)
        => buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOf("\r\n\r\n"u8);

    private static async Task WriteReplyAsync(Stream stream, StubReply reply, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(reply.Body);
        var head = $"HTTP/1.1 {reply.Status} Stub\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), ct);
        await stream.WriteAsync(body, ct);
        await stream.FlushAsync(ct);
    }
}
