namespace TransparentSocks.Sniffing;

/// <summary>The one entry the transparent path calls: which protocol the first bytes are, and the name they carry.</summary>
public static class Sniffer
{
    /// <summary>The most bytes any sniffer waits for; a caller buffering this much always gets an answer.</summary>
    public const int MaxInputLength = TlsClientHelloSniffer.MaxInputLength > HttpHostSniffer.MaxHeadLength
        ? TlsClientHelloSniffer.MaxInputLength
        : HttpHostSniffer.MaxHeadLength;

    private const byte TlsHandshakeRecord = 22;

    /// <summary>
    /// Sniffs <paramref name="input"/>, everything the client has sent so far, as a TLS ClientHello or an HTTP/1.x
    /// request; <see cref="SniffResult.Protocol"/> says which. The first byte decides: a TLS handshake record starts
    /// with 22, which is no token byte and so no start of an HTTP method.
    /// </summary>
    public static SniffResult Sniff(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return SniffResult.NeedMore(SniffedProtocol.None, 1);
        }

        return input[0] == TlsHandshakeRecord ? TlsClientHelloSniffer.Sniff(input) : HttpHostSniffer.Sniff(input);
    }
}
