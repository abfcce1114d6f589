using System.Buffers;
using System.Text;

namespace TransparentSocks.Sniffing;

/// <summary>
/// The host an HTTP/1.x request is for (RFC 9112 §3.2), from the bytes a client has sent so far. Pure: spans in,
/// results out, no exceptions on any input, no allocation but the name.
/// </summary>
/// <remarks>
/// The request line is judged byte by byte as it arrives, so a connection that is not HTTP is NotThisProtocol as soon
/// as a byte cannot belong to a method, target or version, without waiting for a line end. The name is taken once the
/// whole head (up to the empty line) is in: from the target's authority in absolute or authority form (which a server
/// must prefer to Host, RFC 9112 §3.2.2), otherwise from the one Host header. A port is stripped; a bracketed IPv6
/// literal is kept as it is, for <see cref="SniffedName"/> to refuse.
/// What a server would refuse is NotThisProtocol: a second Host header (RFC 9112 §3.2), whitespace before a colon
/// (§5.1), obsolete line folding, a bare CR or LF, a version other than HTTP/1.x. Lines end in CRLF only.
/// </remarks>
public static class HttpHostSniffer
{
    /// <summary>A head longer than this, request line included, is not waited for.</summary>
    public const int MaxHeadLength = 8192;

    /// <summary>The longest method taken for one; registered ones (RFC 9110 and the IANA registry) are at most 17 bytes.</summary>
    public const int MaxMethodLength = 24;

    private static ReadOnlySpan<byte> LineEnd => "\r\n"u8;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    private static ReadOnlySpan<byte> Version => "HTTP/1."u8;

    private static ReadOnlySpan<byte> Host => "host"u8;

    /// <summary>
    /// NeedMoreData while <paramref name="input"/> is a prefix of an HTTP/1.x request head; Found once the head is
    /// complete (with the host, or none); NotThisProtocol as soon as it cannot be one.
    /// </summary>
    public static SniffResult Sniff(ReadOnlySpan<byte> input)
    {
        var lineEnd = input.IndexOf(LineEnd);
        var requestLine = lineEnd < 0 ? input : input[..lineEnd];
        if (!IsRequestLine(requestLine, complete: lineEnd >= 0, out var method, out var target))
        {
            return SniffResult.NotThisProtocol;
        }

        if (lineEnd < 0)
        {
            return input.Length >= MaxHeadLength ? SniffResult.NotThisProtocol : SniffResult.NeedMore(SniffedProtocol.Http, BytesToEndOfHead(input));
        }

        // Header lines are judged as they arrive too, so that garbage after a plausible request line is not waited on.
        var lineStart = lineEnd + LineEnd.Length;
        var hostHeader = ReadOnlySpan<byte>.Empty;
        var sawHost = false;
        while (true)
        {
            var rest = input[lineStart..];
            var length = rest.IndexOf(LineEnd);
            if (length < 0)
            {
                return !IsHeaderPrefix(rest) || input.Length >= MaxHeadLength
                    ? SniffResult.NotThisProtocol
                    : SniffResult.NeedMore(SniffedProtocol.Http, BytesToEndOfHead(input));
            }

            if (lineStart + length + LineEnd.Length > MaxHeadLength)
            {
                return SniffResult.NotThisProtocol;
            }

            if (length == 0)
            {
                break;
            }

            if (!TryReadHeader(rest[..length], out var name, out var value))
            {
                return SniffResult.NotThisProtocol;
            }

            if (name.Length == Host.Length && Ascii.EqualsIgnoreCase(name, Host))
            {
                if (sawHost)
                {
                    return SniffResult.NotThisProtocol;
                }

                sawHost = true;
                hostHeader = value;
            }

            lineStart += length + LineEnd.Length;
        }

        var authority = TargetAuthority(method, target, out var hasAuthority);
        var host = HostOf(hasAuthority ? authority : hostHeader);
        return host.IsEmpty ? SniffResult.FoundWithoutName(SniffedProtocol.Http) : SniffResult.FoundName(SniffedProtocol.Http, host);
    }

    /// <summary>
    /// <c>method SP request-target SP HTTP/1.x</c> (RFC 9112 §3), or as much of it as has arrived when the line is
    /// not <paramref name="complete"/>. The method is a token, the target visible ASCII.
    /// </summary>
    private static bool IsRequestLine(ReadOnlySpan<byte> line, bool complete, out ReadOnlySpan<byte> method, out ReadOnlySpan<byte> target)
    {
        method = default;
        target = default;

        // An unfinished line may end in the CR of its CRLF.
        if (!complete && !line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        var methodLength = 0;
        while (methodLength < line.Length && IsTokenByte(line[methodLength]))
        {
            methodLength++;
        }

        if (methodLength > MaxMethodLength)
        {
            return false;
        }

        if (methodLength == line.Length)
        {
            return !complete;
        }

        if (methodLength == 0 || line[methodLength] != (byte)' ')
        {
            return false;
        }

        method = line[..methodLength];
        var rest = line[(methodLength + 1)..];
        var targetLength = 0;
        while (targetLength < rest.Length && rest[targetLength] is > (byte)' ' and < 0x7F)
        {
            targetLength++;
        }

        if (targetLength == rest.Length)
        {
            return !complete;
        }

        if (targetLength == 0 || rest[targetLength] != (byte)' ')
        {
            return false;
        }

        target = rest[..targetLength];
        var version = rest[(targetLength + 1)..];
        if (version.Length > Version.Length + 1)
        {
            return false;
        }

        var prefix = Math.Min(version.Length, Version.Length);
        if (!version[..prefix].SequenceEqual(Version[..prefix]))
        {
            return false;
        }

        if (version.Length == Version.Length + 1)
        {
            return char.IsAsciiDigit((char)version[^1]);
        }

        return !complete;
    }

    /// <summary><c>field-name ":" OWS field-value OWS</c> (RFC 9112 §5), the value trimmed.</summary>
    private static bool TryReadHeader(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        value = default;
        var colon = line.IndexOf((byte)':');
        name = colon < 0 ? default : line[..colon];
        if (name.IsEmpty)
        {
            return false;
        }

        // Leading whitespace would be obsolete folding, whitespace before the colon is forbidden; a token has neither.
        foreach (var b in name)
        {
            if (!IsTokenByte(b))
            {
                return false;
            }
        }

        value = line[(colon + 1)..].Trim(" \t"u8);

        // A CR or LF here did not end a line: a request that different parsers read differently.
        return value.IndexOfAny((byte)'\r', (byte)'\n') < 0;
    }

    /// <summary>Whether an unfinished header line could still become one <see cref="TryReadHeader"/> takes.</summary>
    private static bool IsHeaderPrefix(ReadOnlySpan<byte> partial)
    {
        if (!partial.IsEmpty && partial[^1] == (byte)'\r')
        {
            partial = partial[..^1];
        }

        var colon = partial.IndexOf((byte)':');
        var name = colon < 0 ? partial : partial[..colon];
        if (colon == 0)
        {
            return false;
        }

        foreach (var b in name)
        {
            if (!IsTokenByte(b))
            {
                return false;
            }
        }

        return colon < 0 || partial[(colon + 1)..].IndexOfAny((byte)'\r', (byte)'\n') < 0;
    }

    /// <summary>
    /// The authority in an absolute-form target (<c>http://host:port/path</c>) or an authority-form one (CONNECT's
    /// <c>host:port</c>); <paramref name="hasAuthority"/> is false for origin and asterisk form, which leave it to Host.
    /// </summary>
    private static readonly SearchValues<byte> SchemeCharacters =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."u8);

    private static ReadOnlySpan<byte> TargetAuthority(ReadOnlySpan<byte> method, ReadOnlySpan<byte> target, out bool hasAuthority)
    {
        hasAuthority = true;
        if (method.SequenceEqual("CONNECT"u8))
        {
            return target;
        }

        var schemeEnd = target.IndexOf("://"u8);
        // Only a real scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) makes it absolute form;
        // "a?b=http://evil/" is no authority for evil.
        if (target.IsEmpty || target[0] == (byte)'/' || schemeEnd <= 0 || !char.IsAsciiLetter((char)target[0])
            || target[..schemeEnd].IndexOfAnyExcept(SchemeCharacters) >= 0)
        {
            hasAuthority = false;
            return default;
        }

        var authority = target[(schemeEnd + 3)..];
        var authorityEnd = authority.IndexOfAny("/?#"u8);
        if (authorityEnd >= 0)
        {
            authority = authority[..authorityEnd];
        }

        // Userinfo is deprecated in http URIs (RFC 9110 §4.2.4) but a sender may still put it there; it is no part of the host.
        var at = authority.LastIndexOf((byte)'@');
        return at < 0 ? authority : authority[(at + 1)..];
    }

    /// <summary>The host of <c>host[:port]</c> or <c>[v6]:port</c>; a port that is not digits stays, for validation to refuse.</summary>
    private static ReadOnlySpan<byte> HostOf(ReadOnlySpan<byte> authority)
    {
        if (!authority.IsEmpty && authority[0] == (byte)'[')
        {
            var close = authority.IndexOf((byte)']');
            return close < 0 ? authority : authority[..(close + 1)];
        }

        var colon = authority.LastIndexOf((byte)':');
        if (colon >= 0 && authority[(colon + 1)..].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            return authority[..colon];
        }

        return authority;
    }

    /// <summary>The fewest bytes that could end the head: the input may already end in part of CRLF CRLF.</summary>
    private static int BytesToEndOfHead(ReadOnlySpan<byte> input)
    {
        for (var matched = Math.Min(3, input.Length); matched > 0; matched--)
        {
            if (input[^matched..].SequenceEqual(EndOfHead[..matched]))
            {
                return EndOfHead.Length - matched;
            }
        }

        return EndOfHead.Length;
    }

    /// <summary>tchar (RFC 9110 §5.6.2).</summary>
    private static bool IsTokenByte(byte b)
        => char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\''
            or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';
}
