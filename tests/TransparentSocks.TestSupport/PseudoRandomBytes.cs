using System.Buffers.Binary;
using System.Security.Cryptography;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A deterministic byte stream (SplitMix64) for integrity tests. The output depends only on the seed
/// and the position, never on how the caller slices it into chunks.
/// </summary>
public sealed class PseudoRandomBytes
{
    private ulong _state;
    private ulong _pending;
    private int _pendingCount;

    public PseudoRandomBytes(int seed)
    {
        _state = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL);
    }

    /// <summary>The first <paramref name="count"/> bytes for <paramref name="seed"/>.</summary>
    public static byte[] Create(int count, int seed)
    {
        var bytes = new byte[count];
        new PseudoRandomBytes(seed).Fill(bytes);
        return bytes;
    }

    /// <summary>The lowercase hex SHA-256 of the first <paramref name="count"/> bytes for <paramref name="seed"/>.</summary>
    public static string Sha256Hex(long count, int seed)
    {
        var generator = new PseudoRandomBytes(seed);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        while (count > 0)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, count));
            generator.Fill(chunk);
            hash.AppendData(chunk);
            count -= chunk.Length;
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public void Fill(Span<byte> destination)
    {
        while (_pendingCount > 0 && !destination.IsEmpty)
        {
            destination[0] = (byte)_pending;
            _pending >>= 8;
            _pendingCount--;
            destination = destination[1..];
        }

        while (destination.Length >= sizeof(ulong))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(destination, Next());
            destination = destination[sizeof(ulong)..];
        }

        if (!destination.IsEmpty)
        {
            _pending = Next();
            _pendingCount = sizeof(ulong);
            Fill(destination);
        }
    }

    private ulong Next()
    {
        unchecked
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
