using System.Buffers.Text;
using System.Text;
using TransparentSocks.Addressing;

namespace TransparentSocks.Http;

/// <summary>What an HTTP proxy answered to CONNECT: its status code and how long the response head was.</summary>
/// <param name="HeadLength">The status line and headers up to and including the empty line; what follows is the tunnel's.</param>
public readonly record struct HttpConnectResponse(int Status, int HeadLength)
{
    public bool Established => Status is >= 200 and < 300;
}

public enum HttpConnectStatus
{
    NeedMoreData,
    Done,
    Invalid,
}

/// <summary>The outcome of reading a response head so far.</summary>
public readonly record struct HttpConnectParse(HttpConnectStatus Status, HttpConnectResponse Response, string? Error)
{
    public static HttpConnectParse NeedMore => new(HttpConnectStatus.NeedMoreData, default, null);

    public static HttpConnectParse Invalid(string error) => new(HttpConnectStatus.Invalid, default, error);
}

/// <summary>
/// HTTP/1.1 CONNECT (RFC 9110 §9.3.6) for an upstream HTTP proxy: the request, and the response head read without
/// going past it, since every byte after the empty line already belongs to the tunnel. Pure: spans in, results out.
/// </summary>
public static class HttpConnectCodec
{
    /// <summary>A proxy that sends more head than this before the empty line is not one to trust with a tunnel.</summary>
    public const int MaxHeadLength = 8192;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>
    /// Writes <c>CONNECT host:port HTTP/1.1</c>, its Host header and, with credentials, Basic Proxy-Authorization.
    /// IPv6 addresses are bracketed. Returns the length.
    /// </summary>
    public static int WriteRequest(Span<byte> dest, Destination destination, ReadOnlySpan<byte> username = default, ReadOnlySpan<byte> password = default)
    {
        var authority = Authority(destination);
        var builder = new StringBuilder(128);
        builder.Append("CONNECT ").Append(authority).Append(" HTTP/1.1\r\nHost: ").Append(authority).Append("\r\n");
        var length = Encoding.ASCII.GetBytes(builder.ToString(), dest);
        if (!username.IsEmpty)
        {
            length += Encoding.ASCII.GetBytes("Proxy-Authorization: Basic ", dest[length..]);
            Span<byte> credentials = stackalloc byte[username.Length + 1 + password.Length];
            username.CopyTo(credentials);
            credentials[username.Length] = (byte)':';
            password.CopyTo(credentials[(username.Length + 1)..]);
            if (Base64.EncodeToUtf8(credentials, dest[length..], out _, out var written) != System.Buffers.OperationStatus.Done)
            {
                throw new ArgumentException("the request does not fit", nameof(dest));
            }

            length += written;
            "\r\n"u8.CopyTo(dest[length..]);
            length += 2;
        }

        "\r\n"u8.CopyTo(dest[length..]);
        return length + 2;
    }

    /// <summary>The longest request <see cref="WriteRequest"/> writes for these lengths.</summary>
    public static int MaxRequestLength(int usernameLength, int passwordLength) => 64 + (2 * 262) + 64 + (((usernameLength + passwordLength + 1 + 2) / 3) * 4);

    /// <summary>
    /// Reads the response head in <paramref name="input"/>: Done once the empty line is in, with the status code;
    /// NeedMoreData before; Invalid for a status line that is not HTTP/1.x with a three-digit code, or a head too long.
    /// </summary>
    public static HttpConnectParse ParseResponse(ReadOnlySpan<byte> input)
    {
        var lineEnd = input.IndexOf("\r\n"u8);
        var statusLine = lineEnd < 0 ? input : input[..lineEnd];

        // Judge the status line as soon as its first bytes are in, so a non-HTTP answer fails fast.
        var prefix = "HTTP/1."u8;
        var check = Math.Min(statusLine.Length, prefix.Length);
        if (!statusLine[..check].SequenceEqual(prefix[..check]))
        {
            return HttpConnectParse.Invalid("the upstream did not answer with HTTP/1.x");
        }

        var end = input.IndexOf(EndOfHead);
        if (end < 0 ? input.Length >= MaxHeadLength : end + EndOfHead.Length > MaxHeadLength)
        {
            // A driver that reads in chunks can hold a whole head past the limit; the limit is on the head, not on a read.
            return HttpConnectParse.Invalid($"response head longer than {MaxHeadLength} bytes");
        }

        if (end < 0)
        {
            return HttpConnectParse.NeedMore;
        }

        // "HTTP/1.1 200 Connection established": version, a space, three digits, then a space or the line's end.
        if (statusLine.Length < 12 || statusLine[8] != (byte)' ' || !IsDigits(statusLine.Slice(9, 3)) || (statusLine.Length > 12 && statusLine[12] != (byte)' '))
        {
            return HttpConnectParse.Invalid("malformed status line");
        }

        var status = ((statusLine[9] - '0') * 100) + ((statusLine[10] - '0') * 10) + (statusLine[11] - '0');
        return new HttpConnectParse(HttpConnectStatus.Done, new HttpConnectResponse(status, end + EndOfHead.Length), null);
    }

    /// <summary>
    /// How many bytes to read next without reading past the head: the head ends with CRLF CRLF, so after the bytes
    /// so far the fewest that could complete it.
    /// </summary>
    public static int NextReadLength(ReadOnlySpan<byte> input)
    {
        // The longest suffix of the input that is a prefix of CRLF CRLF decides how many bytes could still end it.
        for (var matched = Math.Min(3, input.Length); matched > 0; matched--)
        {
            if (input[^matched..].SequenceEqual(EndOfHead[..matched]))
            {
                return EndOfHead.Length - matched;
            }
        }

        return EndOfHead.Length;
    }

    private static bool IsDigits(ReadOnlySpan<byte> span)
    {
        foreach (var b in span)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }

        return true;
    }

    private static string Authority(Destination destination)
    {
        var port = destination.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (destination.IsDomain)
        {
            // A name reaches here from a client; a CR or LF in it would add headers of the client's own.
            foreach (var c in destination.Host)
            {
                if (c is <= ' ' or > '~')
                {
                    throw new ArgumentException("a host name in a CONNECT request must be printable ASCII", nameof(destination));
                }
            }

            return $"{destination.Host}:{port}";
        }

        var address = destination.Address!;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{port}" : $"{address}:{port}";
    }
}
