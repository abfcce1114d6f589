using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>One request head as the target received it.</summary>
public sealed record HttpTargetRequest(IPEndPoint Client, string Method, string Path, string Head);

/// <summary>
/// A minimal HTTP/1.1 server: reads a request head, answers <c>200 OK</c> with <see cref="Body"/>
/// and <c>Connection: close</c>, then closes gracefully.
/// </summary>
public sealed class HttpTarget : TcpTarget
{
    public const string DefaultBody = "hello from target\n";

    private const int MaxHeadBytes = 64 * 1024;
    private static readonly byte[] HeadTerminator = "\r\n\r\n"u8.ToArray();
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(5);

    private readonly byte[] _response;
    private readonly ConcurrentQueue<HttpTargetRequest> _requests = new();

    public HttpTarget(IPAddress address, string body = DefaultBody, int port = 0)
        : base(address, port)
    {
        Body = body;
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = "HTTP/1.1 200 OK\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + $"Content-Length: {bodyBytes.Length}\r\n"
            + "Connection: close\r\n\r\n";
        _response = [.. Encoding.ASCII.GetBytes(head), .. bodyBytes];
        StartAccepting();
    }

    public string Body { get; }

    /// <summary><c>http://ADDRESS:PORT/</c>, with brackets for IPv6.</summary>
    public Uri Url => new($"http://{EndPoint}/");

    public IReadOnlyList<HttpTargetRequest> Requests => [.. _requests];

    public IReadOnlyList<string> Paths => [.. _requests.Select(r => r.Path)];

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var head = await ReadHeadAsync(client, cancellationToken);
        if (head is null)
        {
            return;
        }

        var requestLine = head.Split("\r\n", 2)[0].Split(' ');
        _requests.Enqueue(new HttpTargetRequest(
            (IPEndPoint)client.RemoteEndPoint!,
            requestLine[0],
            requestLine.Length > 1 ? requestLine[1] : string.Empty,
            head));

        await SendAllAsync(client, _response, cancellationToken);
        client.Shutdown(SocketShutdown.Send);

        // Closing with unread input would send RST and could destroy the response in flight;
        // wait for the client's FIN instead, within reason.
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        linger.CancelAfter(LingerTimeout);
        try
        {
            await DrainAsync(client, linger.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The client kept its side open; closing now is fine, the response is acknowledged or queued.
        }
    }

    private static async Task<string?> ReadHeadAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHeadBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            filled += read;
            var end = buffer.AsSpan(0, filled).IndexOf(HeadTerminator);
            if (end >= 0)
            {
                return Encoding.ASCII.GetString(buffer, 0, end);
            }
        }

        throw new InvalidDataException($"Request head exceeds {MaxHeadBytes} bytes.");
    }
}
