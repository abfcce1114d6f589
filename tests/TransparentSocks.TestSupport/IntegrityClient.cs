using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Both halves of an integrity exchange: send N pseudo-random bytes then half-close, while reading
/// and hashing everything until the peer's EOF. <see cref="HashTarget"/> runs the same code on the
/// server side.
/// </summary>
public static class IntegrityClient
{
    private const int ChunkBytes = 64 * 1024;

    /// <summary>
    /// Runs the exchange on an already connected socket (for example one that finished a SOCKS5
    /// handshake). Sending and receiving run concurrently so neither side can stall on a full window.
    /// The first failure cancels the other direction and is rethrown.
    /// </summary>
    public static async Task<IntegrityResult> RunAsync(
        Socket connected,
        long bytesToSend,
        int seed,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesToSend);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var send = CancelOnFailure(SendAsync(connected, bytesToSend, seed, failed.Token), failed);
        var receive = CancelOnFailure(ReceiveAsync(connected, failed.Token), failed);
        await Task.WhenAll(send, receive);

        var (sentBytes, sentHash) = await send;
        var (receivedBytes, receivedHash) = await receive;
        return new IntegrityResult(connected.RemoteEndPoint as IPEndPoint, sentBytes, sentHash, receivedBytes, receivedHash);
    }

    private static async Task<T> CancelOnFailure<T>(Task<T> task, CancellationTokenSource failed)
    {
        try
        {
            return await task;
        }
        catch
        {
            await failed.CancelAsync();
            throw;
        }
    }

    private static async Task<(long Bytes, string Sha256)> SendAsync(Socket socket, long count, int seed, CancellationToken cancellationToken)
    {
        var generator = new PseudoRandomBytes(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            var remaining = count;
            while (remaining > 0)
            {
                var chunk = buffer.AsMemory(0, (int)Math.Min(ChunkBytes, remaining));
                generator.Fill(chunk.Span);
                hash.AppendData(chunk.Span);
                while (!chunk.IsEmpty)
                {
                    var sent = await socket.SendAsync(chunk, SocketFlags.None, cancellationToken);
                    chunk = chunk[sent..];
                    remaining -= sent;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        socket.Shutdown(SocketShutdown.Send);
        return (count, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static async Task<(long Bytes, string Sha256)> ReceiveAsync(Socket socket, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        long total = 0;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(0, ChunkBytes), SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                total += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
