using System.Buffers.Binary;

namespace TransparentSocks.Sniffing;

/// <summary>
/// The server name (SNI, RFC 6066 §3) of a TLS ClientHello, from the bytes a client has sent so far. Pure: spans in,
/// results out, no exceptions on any input, no allocation but the name.
/// </summary>
/// <remarks>
/// The ClientHello may come in several TLS records (RFC 8446 §5.1 lets a handshake message span records, and some
/// clients split it so that on-path boxes miss the name), and the records in several segments; the caller passes
/// everything received so far and sniffs again when more arrives. The whole ClientHello is read and checked before
/// anything is Found, so a prefix is never mistaken for a hello without a name, and a hello that lies about a length
/// is NotThisProtocol rather than a source of names.
/// With encrypted_client_hello (0xfe0d) the server_name seen is the outer one, the public name of the client-facing
/// server; it is what the connection's first hop is, so it is returned, and the result says ECH was on.
/// GREASE values (RFC 8701) need no special case: they are unknown cipher suites, extensions and versions, skipped by
/// their lengths like any other.
/// </remarks>
public static class TlsClientHelloSniffer
{
    /// <summary>TLSPlaintext.length may not exceed 2^14 (RFC 8446 §5.1).</summary>
    public const int MaxRecordLength = 16384;

    /// <summary>
    /// The longest ClientHello body read. Real ones are well under 2 KiB, even with post-quantum key shares; a longer
    /// one is not worth holding a connection for.
    /// </summary>
    public const int MaxClientHelloLength = 16384;

    /// <summary>
    /// The most records one ClientHello may span. Splitting into a few records is a known trick; a hello in hundreds
    /// of one-byte records is a way to make a sniffer wait, so it is NotThisProtocol.
    /// </summary>
    public const int MaxRecords = 64;

    /// <summary>The most bytes sniffing ever needs: a ClientHello of the maximal length in the most records.</summary>
    public const int MaxInputLength = MaxClientHelloLength + HandshakeHeaderLength + (MaxRecords * RecordHeaderLength);

    private const int RecordHeaderLength = 5;
    private const int HandshakeHeaderLength = 4;
    private const byte HandshakeContentType = 22;
    private const byte ClientHelloType = 1;
    private const int RandomLength = 32;
    private const int MaxSessionIdLength = 32;
    private const ushort ServerNameExtension = 0x0000;
    private const ushort EncryptedClientHelloExtension = 0xfe0d;
    private const byte HostNameType = 0;

    /// <summary>
    /// NeedMoreData while <paramref name="input"/> is a prefix of TLS handshake records holding a ClientHello; Found
    /// once the whole ClientHello is in (with its server name, or none); NotThisProtocol as soon as the bytes cannot be one.
    /// </summary>
    public static SniffResult Sniff(ReadOnlySpan<byte> input)
    {
        // The handshake header (type, 24-bit length) may itself be split across records, so it is gathered here.
        Span<byte> handshakeHeader = stackalloc byte[HandshakeHeaderLength];
        var handshakeHave = 0;
        var messageLength = -1;
        var position = 0;
        var records = 0;
        while (true)
        {
            var left = input.Length - position;
            var missing = (messageLength < 0 ? HandshakeHeaderLength : messageLength) - handshakeHave;
            if (left < RecordHeaderLength)
            {
                return IsRecordHeaderPrefix(input[position..])
                    ? SniffResult.NeedMore(SniffedProtocol.Tls, RecordHeaderLength - left + missing)
                    : SniffResult.NotThisProtocol;
            }

            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(input.Slice(position + 3, 2));

            // A zero-length handshake fragment is forbidden (RFC 8446 §5.1), and would let a client send headers forever.
            if (!IsRecordHeaderPrefix(input.Slice(position, 3)) || recordLength is 0 or > MaxRecordLength || ++records > MaxRecords)
            {
                return SniffResult.NotThisProtocol;
            }

            var payloadStart = position + RecordHeaderLength;
            var payload = input.Slice(payloadStart, Math.Min(recordLength, input.Length - payloadStart));

            var headerPart = Math.Min(HandshakeHeaderLength - handshakeHave, payload.Length);
            if (messageLength < 0 && headerPart > 0)
            {
                payload[..headerPart].CopyTo(handshakeHeader[handshakeHave..]);
                if (handshakeHeader[0] != ClientHelloType)
                {
                    return SniffResult.NotThisProtocol;
                }

                if (handshakeHave + headerPart == HandshakeHeaderLength)
                {
                    var bodyLength = (handshakeHeader[1] << 16) | (handshakeHeader[2] << 8) | handshakeHeader[3];
                    if (bodyLength > MaxClientHelloLength)
                    {
                        return SniffResult.NotThisProtocol;
                    }

                    messageLength = HandshakeHeaderLength + bodyLength;
                }
            }

            var used = messageLength < 0 ? payload.Length : Math.Min(payload.Length, messageLength - handshakeHave);
            handshakeHave += used;
            if (messageLength >= 0 && handshakeHave == messageLength)
            {
                return records == 1
                    ? ParseClientHello(input.Slice(payloadStart + HandshakeHeaderLength, messageLength - HandshakeHeaderLength))
                    : ParseSplitClientHello(input, messageLength);
            }

            if (payload.Length < recordLength)
            {
                // The input ends inside this record; what it still declares counts, and beyond it another header.
                missing = (messageLength < 0 ? HandshakeHeaderLength : messageLength) - handshakeHave;
                var restOfRecord = recordLength - payload.Length;
                var anotherRecord = missing > restOfRecord;

                // Past the last record allowed the hello cannot end, and a caller holding MaxInputLength bytes must get an answer.
                return anotherRecord && records == MaxRecords
                    ? SniffResult.NotThisProtocol
                    : SniffResult.NeedMore(SniffedProtocol.Tls, missing + (anotherRecord ? RecordHeaderLength : 0));
            }

            if (records == MaxRecords)
            {
                return SniffResult.NotThisProtocol;
            }

            position = payloadStart + recordLength;
        }
    }

    /// <summary>Content type handshake, then a legacy record version from TLS 1.0 (0x0301) to 1.3 (0x0304), as far as it has come.</summary>
    private static bool IsRecordHeaderPrefix(ReadOnlySpan<byte> header)
        => (header.Length < 1 || header[0] == HandshakeContentType)
            && (header.Length < 2 || header[1] == 3)
            && (header.Length < 3 || header[2] is >= 1 and <= 4);

    /// <summary>Gathers a ClientHello that spans records (whose headers <see cref="Sniff"/> has checked) into one span.</summary>
    private static SniffResult ParseSplitClientHello(ReadOnlySpan<byte> input, int messageLength)
    {
        // At most 16 KiB, and only for split hellos; the stack spares a rented buffer and its return on every path.
        Span<byte> message = stackalloc byte[messageLength];
        var have = 0;
        var position = 0;
        while (have < messageLength)
        {
            var recordLength = BinaryPrimitives.ReadUInt16BigEndian(input.Slice(position + 3, 2));
            var take = Math.Min(recordLength, messageLength - have);
            input.Slice(position + RecordHeaderLength, take).CopyTo(message[have..]);
            have += take;
            position += RecordHeaderLength + recordLength;
        }

        return ParseClientHello(message[HandshakeHeaderLength..]);
    }

    /// <summary>The ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), whole.</summary>
    private static SniffResult ParseClientHello(ReadOnlySpan<byte> body)
    {
        // legacy_version is 0x0303 from TLS 1.2 on; older clients send their own, never above it.
        if (body.Length < 2 + RandomLength || body[0] != 3 || body[1] > 3)
        {
            return SniffResult.NotThisProtocol;
        }

        var position = 2 + RandomLength;
        if (!TryReadVector8(body, ref position, out var sessionId) || sessionId.Length > MaxSessionIdLength
            || !TryReadVector16(body, ref position, out var cipherSuites) || cipherSuites.Length < 2 || cipherSuites.Length % 2 != 0
            || !TryReadVector8(body, ref position, out var compression) || compression.IsEmpty)
        {
            return SniffResult.NotThisProtocol;
        }

        // Extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2); a hello without them has no name.
        if (position == body.Length)
        {
            return SniffResult.FoundWithoutName(SniffedProtocol.Tls);
        }

        if (!TryReadVector16(body, ref position, out var extensions) || position != body.Length)
        {
            return SniffResult.NotThisProtocol;
        }

        var serverName = ReadOnlySpan<byte>.Empty;
        var sawServerName = false;
        var encryptedClientHello = false;
        position = 0;
        while (position < extensions.Length)
        {
            if (extensions.Length - position < 4)
            {
                return SniffResult.NotThisProtocol;
            }

            var type = BinaryPrimitives.ReadUInt16BigEndian(extensions[position..]);
            position += 2;
            if (!TryReadVector16(extensions, ref position, out var data))
            {
                return SniffResult.NotThisProtocol;
            }

            if (type == ServerNameExtension)
            {
                // Two server_name extensions are forbidden (RFC 8446 §4.2), and a server and this sniffer could each pick another.
                if (sawServerName || !TryReadHostName(data, out serverName))
                {
                    return SniffResult.NotThisProtocol;
                }

                sawServerName = true;
            }
            else if (type == EncryptedClientHelloExtension)
            {
                encryptedClientHello = true;
            }
        }

        return serverName.IsEmpty
            ? SniffResult.FoundWithoutName(SniffedProtocol.Tls, encryptedClientHello)
            : SniffResult.FoundName(SniffedProtocol.Tls, serverName, encryptedClientHello);
    }

    /// <summary>
    /// The host_name in a ServerNameList (RFC 6066 §3); empty if it holds only other name types. False if malformed:
    /// a list that does not fill the extension, an empty list or name, or two host names.
    /// </summary>
    private static bool TryReadHostName(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> hostName)
    {
        hostName = default;
        var position = 0;
        if (!TryReadVector16(data, ref position, out var list) || position != data.Length || list.IsEmpty)
        {
            return false;
        }

        position = 0;
        while (position < list.Length)
        {
            var nameType = list[position++];

            // Every name type defined so far is opaque<1..2^16-1>, so an unknown one can be skipped the same way.
            if (!TryReadVector16(list, ref position, out var name) || name.IsEmpty)
            {
                return false;
            }

            if (nameType == HostNameType)
            {
                if (!hostName.IsEmpty)
                {
                    return false;
                }

                hostName = name;
            }
        }

        return true;
    }

    private static bool TryReadVector8(ReadOnlySpan<byte> span, scoped ref int position, out ReadOnlySpan<byte> vector)
    {
        if (span.Length - position < 1 || span.Length - position - 1 < span[position])
        {
            vector = default;
            return false;
        }

        vector = span.Slice(position + 1, span[position]);
        position += 1 + vector.Length;
        return true;
    }

    private static bool TryReadVector16(ReadOnlySpan<byte> span, scoped ref int position, out ReadOnlySpan<byte> vector)
    {
        if (span.Length - position < 2)
        {
            vector = default;
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(span[position..]);
        if (span.Length - position - 2 < length)
        {
            vector = default;
            return false;
        }

        vector = span.Slice(position + 2, length);
        position += 2 + length;
        return true;
    }
}
