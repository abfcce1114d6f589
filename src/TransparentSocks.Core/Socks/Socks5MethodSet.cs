using System.Numerics;
using System.Text;

namespace TransparentSocks.Socks;

/// <summary>
/// The set of methods a client offered: one bit per possible METHOD byte, so parsing a greeting does not
/// allocate and a repeated method counts once.
/// </summary>
public readonly struct Socks5MethodSet : IEquatable<Socks5MethodSet>
{
    private readonly ulong _bits0;
    private readonly ulong _bits1;
    private readonly ulong _bits2;
    private readonly ulong _bits3;

    private Socks5MethodSet(ulong bits0, ulong bits1, ulong bits2, ulong bits3)
    {
        _bits0 = bits0;
        _bits1 = bits1;
        _bits2 = bits2;
        _bits3 = bits3;
    }

    public static Socks5MethodSet Empty => default;

    /// <summary>How many distinct methods are in the set.</summary>
    public int Count => BitOperations.PopCount(_bits0) + BitOperations.PopCount(_bits1)
                        + BitOperations.PopCount(_bits2) + BitOperations.PopCount(_bits3);

    public bool IsEmpty => (_bits0 | _bits1 | _bits2 | _bits3) == 0;

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
        var mask = 1UL << (value & 63);
        return (value >> 6) switch
        {
            0 => (_bits0 & mask) != 0,
            1 => (_bits1 & mask) != 0,
            2 => (_bits2 & mask) != 0,
            _ => (_bits3 & mask) != 0,
        };
    }

    /// <summary>A copy of this set that also holds <paramref name="method"/>.</summary>
    public Socks5MethodSet With(Socks5AuthMethod method)
    {
        var value = (byte)method;
        var mask = 1UL << (value & 63);
        return (value >> 6) switch
        {
            0 => new Socks5MethodSet(_bits0 | mask, _bits1, _bits2, _bits3),
            1 => new Socks5MethodSet(_bits0, _bits1 | mask, _bits2, _bits3),
            2 => new Socks5MethodSet(_bits0, _bits1, _bits2 | mask, _bits3),
            _ => new Socks5MethodSet(_bits0, _bits1, _bits2, _bits3 | mask),
        };
    }

    public bool Equals(Socks5MethodSet other)
        => _bits0 == other._bits0 && _bits1 == other._bits1 && _bits2 == other._bits2 && _bits3 == other._bits3;

    public override bool Equals(object? obj) => obj is Socks5MethodSet other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_bits0, _bits1, _bits2, _bits3);

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
