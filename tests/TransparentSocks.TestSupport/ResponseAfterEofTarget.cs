using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Reads until the client shuts down its write side and only then answers with
/// <c>got N bytes\n</c> followed by <see cref="TrailerBytes"/> of ASCII lines, then closes. A proxy
/// that turns the client's half-close into a full close loses the whole answer.
/// </summary>
public sealed class ResponseAfterEofTarget : TcpTarget
{
    public const int DefaultTrailerBytes = 1024 * 1024;

    private const string TrailerLine = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n";

    private readonly ConcurrentQueue<long> _receivedCounts = new();

    public ResponseAfterEofTarget(IPAddress address, int trailerBytes = DefaultTrailerBytes, int port = 0)
        : base(address, port)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trailerBytes);
        TrailerBytes = trailerBytes;
        StartAccepting();
    }

    public int TrailerBytes { get; }

    /// <summary>How many bytes each finished connection sent before its EOF.</summary>
    public IReadOnlyList<long> ReceivedCounts => [.. _receivedCounts];

    /// <summary>The exact text the target answers to a client that sent <paramref name="receivedBytes"/>.</summary>
    public string ExpectedResponse(long receivedBytes)
    {
        var builder = new StringBuilder(TrailerBytes + 32);
        builder.Append(CultureInfo.InvariantCulture, $"got {receivedBytes} bytes\n");
        var header = builder.Length;
        while (builder.Length - header < TrailerBytes)
        {
            var remaining = TrailerBytes - (builder.Length - header);
            builder.Append(TrailerLine.AsSpan(0, Math.Min(remaining, TrailerLine.Length)));
        }

        return builder.ToString();
    }

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var received = await DrainAsync(client, cancellationToken);
        _receivedCounts.Enqueue(received);
        await SendAllAsync(client, Encoding.ASCII.GetBytes(ExpectedResponse(received)), cancellationToken);
        client.Shutdown(SocketShutdown.Send);
    }
}
