using System.Diagnostics.CodeAnalysis;

namespace TransparentSocks.Sniffing;

/// <summary>Why a sniffed name is not used; the connection then goes to its IP.</summary>
public enum SniffedNameError : byte
{
    /// <summary>The name is usable.</summary>
    None,

    /// <summary>The client sent no name: a ClientHello without server_name, a request without Host.</summary>
    Missing,

    /// <summary>The name is empty, or only a dot.</summary>
    Empty,

    /// <summary>Longer than <see cref="SniffedName.MaxLength"/> without its trailing dot.</summary>
    TooLong,

    /// <summary>Two dots in a row, or a leading dot.</summary>
    EmptyLabel,

    /// <summary>A label longer than <see cref="SniffedName.MaxLabelLength"/>.</summary>
    LabelTooLong,

    /// <summary>A byte that is not a letter, digit, hyphen or dot: not a host name (RFC 952/1123 LDH).</summary>
    BadCharacter,

    /// <summary>A label that starts or ends with a hyphen.</summary>
    BadHyphen,

    /// <summary>
    /// An IP address, or what a resolver would read as one: bracketed or containing a colon (IPv6), or a last label
    /// that is all digits or 0x-hex (IPv4 in any of the forms inet_aton takes, e.g. 127.1 or 0x7f000001).
    /// </summary>
    IpLiteral,
}

/// <summary>
/// Decides whether a name a client sent (SNI, Host) may replace the IP it connected to, and normalises it.
/// </summary>
/// <remarks>
/// The rules are those of a DNS host name, since the name goes to an upstream that resolves it: ASCII letters, digits
/// and hyphens in dot-separated labels of 1 to 63 bytes, no label starting or ending with a hyphen (RFC 1123 §2.1),
/// at most 253 bytes in all, which is what fits the 255-byte wire form (and a SOCKS5 domain). One trailing dot (the
/// fully qualified form) is dropped, and letters are lower-cased, so equal names count and route alike.
/// Stricter than some resolvers on purpose: an underscore or raw UTF-8 (U-labels; SNI must carry A-labels, RFC 6066
/// §3) is refused, and a refused name costs nothing but the name: the connection still goes to the IP.
/// An IP literal is refused because the connection's own destination already says where to go, and a client could
/// otherwise name an address the rules would not let it reach. Single-label names (localhost) pass; whether to
/// trust them is routing's decision, not the sniffer's.
/// </remarks>
public static class SniffedName
{
    /// <summary>The longest name without its trailing dot.</summary>
    public const int MaxLength = 253;

    public const int MaxLabelLength = 63;

    /// <summary>Why <paramref name="name"/> (ASCII bytes as sent) is not usable, or None.</summary>
    public static SniffedNameError Validate(ReadOnlySpan<byte> name)
    {
        if (name.Length > 0 && name[^1] == (byte)'.')
        {
            name = name[..^1];
        }

        if (name.IsEmpty)
        {
            return SniffedNameError.Empty;
        }

        // Judged before length and labels, so that an address of any length is reported as what it is.
        if (name[0] == (byte)'[' || name.Contains((byte)':'))
        {
            return SniffedNameError.IpLiteral;
        }

        if (name.Length > MaxLength)
        {
            return SniffedNameError.TooLong;
        }

        var lastLabel = ReadOnlySpan<byte>.Empty;
        var rest = name;
        while (true)
        {
            var dot = rest.IndexOf((byte)'.');
            var label = dot < 0 ? rest : rest[..dot];
            var error = ValidateLabel(label);
            if (error != SniffedNameError.None)
            {
                return error;
            }

            if (dot < 0)
            {
                lastLabel = label;
                break;
            }

            rest = rest[(dot + 1)..];
        }

        return IsNumeric(lastLabel) ? SniffedNameError.IpLiteral : SniffedNameError.None;
    }

    /// <summary>
    /// The usable form of <paramref name="name"/>: lower-cased, without a trailing dot. The only allocation is the
    /// returned string, and only for a name that passes.
    /// </summary>
    public static bool TryNormalize(ReadOnlySpan<byte> name, [NotNullWhen(true)] out string? normalized, out SniffedNameError error)
    {
        error = Validate(name);
        if (error != SniffedNameError.None)
        {
            normalized = null;
            return false;
        }

        if (name[^1] == (byte)'.')
        {
            name = name[..^1];
        }

        Span<char> chars = stackalloc char[MaxLength];
        for (var i = 0; i < name.Length; i++)
        {
            var b = name[i];
            chars[i] = (char)(b is >= (byte)'A' and <= (byte)'Z' ? b | 0x20 : b);
        }

        normalized = new string(chars[..name.Length]);
        return true;
    }

    /// <summary>The same rules for a name already held as a string; any non-ASCII character is a bad character.</summary>
    public static bool TryNormalize(string name, [NotNullWhen(true)] out string? normalized, out SniffedNameError error)
    {
        // Anything longer cannot pass; cut it short so the copy below stays on the stack, keeping the verdict a long name earns.
        var length = Math.Min(name.Length, MaxLength + 2);
        Span<byte> bytes = stackalloc byte[MaxLength + 2];
        for (var i = 0; i < length; i++)
        {
            if (name[i] > 0x7F)
            {
                normalized = null;
                error = SniffedNameError.BadCharacter;
                return false;
            }

            bytes[i] = (byte)name[i];
        }

        if (name.Length > length)
        {
            normalized = null;
            error = name.Contains(':', StringComparison.Ordinal) || name[0] == '[' ? SniffedNameError.IpLiteral : SniffedNameError.TooLong;
            return false;
        }

        return TryNormalize(bytes[..length], out normalized, out error);
    }

    private static SniffedNameError ValidateLabel(ReadOnlySpan<byte> label)
    {
        if (label.IsEmpty)
        {
            return SniffedNameError.EmptyLabel;
        }

        if (label.Length > MaxLabelLength)
        {
            return SniffedNameError.LabelTooLong;
        }

        foreach (var b in label)
        {
            if (!(char.IsAsciiLetterOrDigit((char)b) || b == (byte)'-'))
            {
                return SniffedNameError.BadCharacter;
            }
        }

        return label[0] == (byte)'-' || label[^1] == (byte)'-' ? SniffedNameError.BadHyphen : SniffedNameError.None;
    }

    /// <summary>All decimal digits, or 0x and hex digits: no top-level domain looks like that, an IPv4 part does.</summary>
    private static bool IsNumeric(ReadOnlySpan<byte> label)
    {
        if (label.Length >= 2 && label[0] == (byte)'0' && (label[1] | 0x20) == (byte)'x')
        {
            foreach (var b in label[2..])
            {
                if (!char.IsAsciiHexDigit((char)b))
                {
                    return false;
                }
            }

            return true;
        }

        foreach (var b in label)
        {
            if (!char.IsAsciiDigit((char)b))
            {
                return false;
            }
        }

        return true;
    }
}
