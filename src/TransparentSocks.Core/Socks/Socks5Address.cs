using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;

namespace TransparentSocks.Socks;

/// <summary>
/// ATYP, ADDR and PORT: the tail shared by requests, replies and UDP headers.
/// Domain names are Latin-1 so that every byte the client sent survives a parse and a write unchanged,
/// which matters when the name is handed on to an upstream proxy rather than resolved here.
/// </summary>
internal static class Socks5Address
{
    /// <summary>ATYP, a length byte, 255 name bytes and the port.</summary>
    public const int MaxLength = 1 + 1 + 255 + 2;

    private static readonly SearchValues<byte> BadDomainBytes = SearchValues.Create(
    [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
        (byte)' ', (byte)'/', 0x7F,
    ]);

    public static ParseResult<Destination> Parse(ReadOnlySpan<byte> input)
    {
        var raw = ParseInPlace(input);
        if (!raw.IsDone)
        {
            return raw.IsInvalid ? ParseResult<Destination>.Invalid(raw.Error) : ParseResult<Destination>.NeedMore(raw.Needed);
        }

        return ParseResult<Destination>.Done(ToDestination(input, raw.Value), raw.Consumed);
    }

    /// <summary>The destination an address read in place names; <paramref name="message"/> is what its offset counts from.</summary>
    public static Destination ToDestination(ReadOnlySpan<byte> message, Socks5AddressSpan at)
    {
        var bytes = message.Slice(at.Offset, at.Length);
        return at.Type == Socks5AddressType.DomainName
            ? Destination.FromHost(Encoding.Latin1.GetString(bytes), at.Port)
            : Destination.FromAddress(new IPAddress(bytes), at.Port);
    }

    /// <summary>
    /// Like <see cref="Parse"/>, with the same checks, but says where the address lies instead of building it, so
    /// the UDP relay reads a header per datagram without allocating.
    /// </summary>
    public static ParseResult<Socks5AddressSpan> ParseInPlace(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            // ATYP and one more byte: every address type is at least that long, and a name's length byte is the second.
            return ParseResult<Socks5AddressSpan>.NeedMore(2);
        }

        int addressLength;
        var offset = 1;
        switch ((Socks5AddressType)input[0])
        {
            case Socks5AddressType.IPv4:
                addressLength = 4;
                break;
            case Socks5AddressType.IPv6:
                addressLength = 16;
                break;
            case Socks5AddressType.DomainName:
                if (input.Length < 2)
                {
                    return ParseResult<Socks5AddressSpan>.NeedMore(input.Length, 2);
                }

                var nameLength = input[1];
                if (nameLength == 0)
                {
                    return ParseResult<Socks5AddressSpan>.Invalid(Socks5ParseError.EmptyDomain);
                }

                // Check the name bytes already here so a bad name fails before the rest arrives.
                var available = input.Slice(2, Math.Min(nameLength, input.Length - 2));
                if (available.IndexOfAny(BadDomainBytes) >= 0 || (available.Length == nameLength && IsZonedAddress(available)))
                {
                    return ParseResult<Socks5AddressSpan>.Invalid(Socks5ParseError.BadDomain);
                }

                addressLength = nameLength;
                offset = 2;
                break;
            default:
                return ParseResult<Socks5AddressSpan>.Invalid(Socks5ParseError.UnknownAddressType);
        }

        var length = offset + addressLength + 2;
        if (input.Length < length)
        {
            return ParseResult<Socks5AddressSpan>.NeedMore(input.Length, length);
        }

        var port = BinaryPrimitives.ReadUInt16BigEndian(input[(offset + addressLength)..]);
        return ParseResult<Socks5AddressSpan>.Done(new Socks5AddressSpan((Socks5AddressType)input[0], offset, addressLength, port), length);
    }

    /// <summary>
    /// Whether a name is an IP literal with a zone ("fe80::1%2"). <see cref="Destination.FromHost"/> makes such a name
    /// an address, whose zone would pick an interface on this host for a remote client, and which the 16 address
    /// bytes of a request, reply or UDP header passed on cannot carry: the destination written on would be another.
    /// </summary>
    private static bool IsZonedAddress(ReadOnlySpan<byte> name)
    {
        if (!name.Contains((byte)'%'))
        {
            return false;
        }

        Span<char> text = stackalloc char[byte.MaxValue];
        var length = Encoding.Latin1.GetChars(name, text);
        return IPAddress.TryParse(text[..length], out _);
    }

    /// <summary>The encoded length of <paramref name="destination"/>; throws if it cannot be encoded.</summary>
    public static int GetLength(Destination destination, string paramName)
    {
        if (destination.IsDefault)
        {
            throw new ArgumentException("The destination is empty.", paramName);
        }

        if (destination.IsDomain)
        {
            var host = destination.Host;
            if (host.Length > 255)
            {
                throw new ArgumentException($"The host name is {host.Length} characters; SOCKS5 allows 255.", paramName);
            }

            foreach (var c in host)
            {
                // Refuse what Parse would refuse so that a writer never produces a message its peer rejects.
                if (c > byte.MaxValue || BadDomainBytes.Contains((byte)c))
                {
                    throw new ArgumentException($"The host name '{host}' has a character SOCKS5 cannot carry.", paramName);
                }
            }

            return 1 + 1 + host.Length + 2;
        }

        return destination.Address.AddressFamily switch
        {
            AddressFamily.InterNetwork => 1 + 4 + 2,
            AddressFamily.InterNetworkV6 => 1 + 16 + 2,
            _ => throw new ArgumentException($"Address family {destination.Address.AddressFamily} is not IPv4 or IPv6.", paramName),
        };
    }

    /// <summary>Writes a destination already measured by <see cref="GetLength"/> into a span long enough for it.</summary>
    public static int Write(Span<byte> dest, Destination destination)
    {
        int addressLength;
        if (destination.IsDomain)
        {
            var host = destination.Host;
            dest[0] = (byte)Socks5AddressType.DomainName;
            dest[1] = (byte)host.Length;
            for (var i = 0; i < host.Length; i++)
            {
                dest[2 + i] = (byte)host[i];
            }

            addressLength = 1 + host.Length;
        }
        else
        {
            var isV4 = destination.Address.AddressFamily == AddressFamily.InterNetwork;
            dest[0] = (byte)(isV4 ? Socks5AddressType.IPv4 : Socks5AddressType.IPv6);
            destination.Address.TryWriteBytes(dest[1..], out addressLength);
        }

        BinaryPrimitives.WriteUInt16BigEndian(dest.Slice(1 + addressLength), (ushort)destination.Port);
        return 1 + addressLength + 2;
    }

    /// <summary>Writes an IPv4-mapped IPv6 address as the IPv4 address it stands for.</summary>
    public static int WriteMappedAsIPv4(Span<byte> dest, IPAddress mapped, int port)
    {
        Span<byte> v6 = stackalloc byte[16];
        mapped.TryWriteBytes(v6, out _);
        dest[0] = (byte)Socks5AddressType.IPv4;
        v6[12..].CopyTo(dest[1..]);
        BinaryPrimitives.WriteUInt16BigEndian(dest[5..], (ushort)port);
        return 1 + 4 + 2;
    }
}
