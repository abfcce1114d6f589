using System.Numerics;
using System.Runtime.Intrinsics;
using System.Text;

namespace TransparentSocks.Socks;

/// <summary>
/// The set of methods a client offered: one bit per possible METHOD byte, so parsing a greeting does not
/// allocate and a repeated method counts once.
/// </summary>
public readonly struct Socks5MethodSet : IEquatable<Socks5MethodSet>
{
    // Bit n is METHOD n. One 256-bit value rather than four words, so no operation picks a word by hand.
    private readonly Vector256<ulong> _bits;

    private Socks5MethodSet(Vector256<ulong> bits)
    {
        _bits = bits;
    }

    public static Socks5MethodSet Empty => default;

    /// <summary>How many distinct methods are in the set.</summary>
    public int Count
    {
        get
        {
            var count = 0;
            for (var word = 0; word < Vector256<ulong>.Count; word++)
            {
                count += BitOperations.PopCount(_bits.GetElement(word));
            }

            return count;
        }
    }

    public bool IsEmpty => _bits == Vector256<ulong>.Zero;

    public static Socks5MethodSet Create(ReadOnlySpan<Socks5AuthMethod> methods)
    {
        var set = default(Socks5MethodSet);
        foreach (var method in methods)
        {
            set = set.With(method);
        }

        return set;
    }

    public bool Contains(Socks5AuthMethod method)
    {
        var value = (byte)method;
        return (_bits.GetElement(value >> 6) & (1UL << (value & 63))) != 0;
    }

    /// <summary>A copy of this set that also holds <paramref name="method"/>.</summary>
    public Socks5MethodSet With(Socks5AuthMethod method)
    {
        var value = (byte)method;
        var word = value >> 6;
        return new Socks5MethodSet(_bits.WithElement(word, _bits.GetElement(word) | (1UL << (value & 63))));
    }

    public bool Equals(Socks5MethodSet other) => _bits == other._bits;

    public override bool Equals(object? obj) => obj is Socks5MethodSet other && Equals(other);

    public override int GetHashCode() => _bits.GetHashCode();

    public static bool operator ==(Socks5MethodSet left, Socks5MethodSet right) => left.Equals(right);

    public static bool operator !=(Socks5MethodSet left, Socks5MethodSet right) => !left.Equals(right);

    public override string ToString()
    {
        var text = new StringBuilder("{");
        for (var value = 0; value <= byte.MaxValue; value++)
        {
            var method = (Socks5AuthMethod)value;
            if (Contains(method))
            {
                text.Append(text.Length == 1 ? " " : ", ").Append(method);
            }
        }

        return text.Append(" }").ToString();
    }
}
