using System.Text;

namespace TransparentSocks.Http;

public enum HttpRequestStatus
{
    /// <summary>No empty line yet, and still under the limit.</summary>
    NeedMoreData,

    /// <summary>A well-formed head up to and including its empty line.</summary>
    Done,

    /// <summary>Not an HTTP/1.x request head (a 400).</summary>
    Invalid,

    /// <summary>No empty line within the limit (a 431).</summary>
    TooLarge,
}

/// <summary>A request head as a small server needs it: method, path and query apart, version, and where the head ends.</summary>
/// <param name="Path">The request target's path, up to a '?' and not percent-decoded.</param>
/// <param name="Query">What follows the '?', without it; empty when there is none.</param>
/// <param name="HeadLength">The request line and headers up to and including the empty line.</param>
/// <param name="ContentLength">The body's length from Content-Length; 0 when there is none.</param>
/// <param name="HasTransferEncoding">A Transfer-Encoding header came, so the body's length is not Content-Length's.</param>
public readonly record struct HttpRequestHead(
    string Method, string Path, string Query, int MinorVersion, int HeadLength, long ContentLength = 0, bool HasTransferEncoding = false);

/// <summary>The outcome of reading a request head so far; <see cref="Error"/> says what is wrong when it is not Done.</summary>
public readonly record struct HttpRequestParse(HttpRequestStatus Status, HttpRequestHead Head, string? Error)
{
    public static HttpRequestParse NeedMore => new(HttpRequestStatus.NeedMoreData, default, null);
}

/// <summary>
/// An HTTP/1.x request head (RFC 9112 §2-§5) for the daemon's own small servers, strict where leniency only helps an
/// attacker: CRLF line ends only, no obsolete line folding, a token method, an origin-form target, header names that
/// are tokens. Headers are checked but not kept, but for the two that frame a body: Content-Length (digits only, and
/// repeated only with the same value, RFC 9112 §6.3) and whether Transfer-Encoding came. Pure: spans in, results out.
/// </summary>
public static class HttpRequestHeadParser
{
    /// <summary>Longer than any registered method (the longest, UPDATEREDIRECTREF, has 17 letters).</summary>
    public const int MaxMethodLength = 32;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>
    /// Reads the head at the start of <paramref name="input"/>. Done once its empty line is in, NeedMoreData before,
    /// TooLarge when <paramref name="maxHeadLength"/> bytes hold no empty line, Invalid at the first malformed line
    /// already complete (so a bad request line is refused without waiting for the rest).
    /// </summary>
    public static HttpRequestParse Parse(ReadOnlySpan<byte> input, int maxHeadLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHeadLength, 16);
        var window = input.Length > maxHeadLength ? input[..maxHeadLength] : input;
        var end = window.IndexOf(EndOfHead);
        var head = end < 0 ? window : window[..(end + 2)];

        // Every complete line is checked as it stands, so garbage is refused on its first line, not at the limit.
        var lineEnd = head.IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            if (HasBareLineEnd(head))
            {
                return Invalid("a line ends without CRLF");
            }

            // A method is short and made of token bytes: anything else (a TLS hello, a SOCKS greeting) is refused
            // now, not after the timeout or the limit.
            var space = head.IndexOf((byte)' ');
            var start = space < 0 ? head : head[..space];
            if ((space < 0 && start.Length > MaxMethodLength) || (!start.IsEmpty && !IsToken(start)) || space == 0)
            {
                return Invalid("the request line does not start with a method");
            }

            return end < 0 && input.Length >= maxHeadLength ? TooLarge(maxHeadLength) : HttpRequestParse.NeedMore;
        }

        if (!TryRequestLine(head[..lineEnd], out var method, out var path, out var query, out var minor, out var error))
        {
            return Invalid(error);
        }

        var rest = head[(lineEnd + 2)..];
        long contentLength = -1;
        var transferEncoding = false;
        while (true)
        {
            var next = rest.IndexOf("\r\n"u8);
            if (next < 0)
            {
                if (HasBareLineEnd(rest))
                {
                    return Invalid("a line ends without CRLF");
                }

                // The header still arriving: its name so far must already be a token.
                var partial = rest.IsEmpty || rest[^1] != '\r' ? rest : rest[..^1];
                var colon = partial.IndexOf((byte)':');
                if (!partial.IsEmpty && (colon == 0 || !IsToken(colon < 0 ? partial : partial[..colon])))
                {
                    return Invalid(partial[0] is (byte)' ' or (byte)'\t' ? "obsolete line folding" : "a header name is not a token");
                }

                break;
            }

            if (next == 0)
            {
                break;
            }

            if (HeaderError(rest[..next]) is { } headerError)
            {
                return Invalid(headerError);
            }

            if (FramingError(rest[..next], ref contentLength, ref transferEncoding) is { } framingError)
            {
                return Invalid(framingError);
            }

            rest = rest[(next + 2)..];
        }

        if (end < 0)
        {
            return input.Length >= maxHeadLength ? TooLarge(maxHeadLength) : HttpRequestParse.NeedMore;
        }

        var parsed = new HttpRequestHead(method, path, query, minor, end + EndOfHead.Length, Math.Max(contentLength, 0), transferEncoding);
        return new HttpRequestParse(HttpRequestStatus.Done, parsed, null);
    }

    private static bool TryRequestLine(ReadOnlySpan<byte> line, out string method, out string path, out string query, out int minor, out string error)
    {
        method = path = query = error = string.Empty;
        minor = 0;
        if (line.Contains((byte)'\n'))
        {
            error = "a line ends without CRLF";
            return false;
        }

        var firstSpace = line.IndexOf((byte)' ');
        if (firstSpace <= 0)
        {
            error = "the request line has no method";
            return false;
        }

        var methodBytes = line[..firstSpace];
        if (methodBytes.Length > MaxMethodLength || !IsToken(methodBytes))
        {
            error = "the method is not a token";
            return false;
        }

        var afterMethod = line[(firstSpace + 1)..];
        var secondSpace = afterMethod.IndexOf((byte)' ');
        if (secondSpace <= 0)
        {
            error = "the request line has no target";
            return false;
        }

        var target = afterMethod[..secondSpace];
        var version = afterMethod[(secondSpace + 1)..];
        if (version.Length != 8 || !version.StartsWith("HTTP/1."u8) || !char.IsAsciiDigit((char)version[7]))
        {
            error = "the request line does not end in HTTP/1.x";
            return false;
        }

        // origin-form only: a server that is nobody's proxy has no use for absolute-form, and '*' is OPTIONS' alone.
        if (target[0] != '/')
        {
            error = "the target is not an absolute path";
            return false;
        }

        foreach (var b in target)
        {
            if (b <= 0x20 || b >= 0x7f)
            {
                error = "the target holds a control, space or non-ASCII byte";
                return false;
            }
        }

        var question = target.IndexOf((byte)'?');
        var pathBytes = question < 0 ? target : target[..question];
        var queryBytes = question < 0 ? default : target[(question + 1)..];
        method = Encoding.ASCII.GetString(methodBytes);
        path = Encoding.ASCII.GetString(pathBytes);
        query = Encoding.ASCII.GetString(queryBytes);
        minor = version[7] - '0';
        return true;
    }

    private static string? HeaderError(ReadOnlySpan<byte> line)
    {
        if (line.Contains((byte)'\n'))
        {
            return "a line ends without CRLF";
        }

        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return "obsolete line folding";
        }

        var colon = line.IndexOf((byte)':');
        if (colon <= 0 || !IsToken(line[..colon]))
        {
            return "a header name is not a token";
        }

        foreach (var b in line[(colon + 1)..])
        {
            if ((b < 0x20 && b != '\t') || b == 0x7f)
            {
                return "a header value holds a control byte";
            }
        }

        return null;
    }

    /// <summary>The body framing headers of a well-formed header line: Content-Length's value, Transfer-Encoding's presence.</summary>
    private static string? FramingError(ReadOnlySpan<byte> line, ref long contentLength, ref bool transferEncoding)
    {
        var colon = line.IndexOf((byte)':');
        var name = line[..colon];
        if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
        {
            transferEncoding = true;
            return null;
        }

        if (!Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
        {
            return null;
        }

        var value = line[(colon + 1)..].Trim(" \t"u8);

        // Digits only (no sign, no list "5, 5"), and short enough that no length overflows.
        if (value.IsEmpty || value.Length > 18 || value.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return "Content-Length is not a number";
        }

        long length = 0;
        foreach (var digit in value)
        {
            length = (length * 10) + (digit - '0');
        }

        if (contentLength >= 0 && contentLength != length)
        {
            return "two different Content-Length values";
        }

        contentLength = length;
        return null;
    }

    /// <summary>
    /// A CR or LF in a line not yet ended by CRLF: only a CR as the very last byte may still become one.
    /// </summary>
    private static bool HasBareLineEnd(ReadOnlySpan<byte> partialLine)
        => partialLine.IndexOfAny((byte)'\r', (byte)'\n') is var stray and >= 0 && (partialLine[stray] == '\n' || stray < partialLine.Length - 1);

    /// <summary>RFC 9110 §5.6.2 tchar.</summary>
    private static bool IsToken(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            var ok = char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\''
                or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';
            if (!ok)
            {
                return false;
            }
        }

        return !value.IsEmpty;
    }

    private static HttpRequestParse Invalid(string error) => new(HttpRequestStatus.Invalid, default, error);

    private static HttpRequestParse TooLarge(int max) => new(HttpRequestStatus.TooLarge, default, $"no end of the head in {max} bytes");
}
