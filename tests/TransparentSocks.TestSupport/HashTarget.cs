using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

/// <summary>
/// The server half of an integrity exchange. Each connection concurrently hashes everything it
/// receives until EOF and sends <see cref="BytesToSend"/> pseudo-random bytes (streamed in chunks)
/// followed by a half-close.
/// </summary>
public sealed class HashTarget : TcpTarget
{
    private readonly ConcurrentQueue<IntegrityResult> _results = new();

    public HashTarget(IPAddress address, long bytesToSend, int seed, int port = 0)
        : base(address, port)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesToSend);
        BytesToSend = bytesToSend;
        Seed = seed;
        StartAccepting();
    }

    public long BytesToSend { get; }

    public int Seed { get; }

    /// <summary>One result per connection that completed its exchange, in completion order.</summary>
    public IReadOnlyList<IntegrityResult> Results => [.. _results];

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        var result = await IntegrityClient.RunAsync(client, BytesToSend, Seed, cancellationToken);
        _results.Enqueue(result);
    }
}
