using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.Addressing;

/// <summary>
/// A CIDR block such as <c>10.0.0.0/8</c> or <c>2001:db8::/32</c>.
/// IPv4-mapped IPv6 addresses (<c>::ffff:a.b.c.d</c>) are treated as the IPv4 address they carry, both when parsing
/// and in <see cref="Contains"/>, because a dual-stack socket reports IPv4 peers in that form and a deny-list must
/// not be bypassable by spelling an address differently.
/// <c>default(IpNetwork)</c> is 0.0.0.0/0, every IPv4 address; obtain instances from <see cref="TryParse"/>.
/// </summary>
public readonly struct IpNetwork : IEquatable<IpNetwork>
{
    // IPv4 networks keep their 32 bits in the low end of the same field so that one struct covers both families.
    private readonly UInt128 _network;
    private readonly byte _prefixLength;
    private readonly bool _isV6;

    private IpNetwork(UInt128 network, int prefixLength, bool isV6)
    {
        _network = network;
        _prefixLength = (byte)prefixLength;
        _isV6 = isV6;
    }

    public AddressFamily AddressFamily => _isV6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;

    public int PrefixLength => _prefixLength;

    /// <summary>The first address of the block.</summary>
    public IPAddress BaseAddress
    {
        get
        {
            Span<byte> bytes = stackalloc byte[16];
            if (_isV6)
            {
                BinaryPrimitives.WriteUInt128BigEndian(bytes, _network);
                return new IPAddress(bytes);
            }

            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_network);
            return new IPAddress(bytes[..4]);
        }
    }

    internal bool IsV6 => _isV6;

    internal uint V4Network => (uint)_network;

    internal uint V4Mask => V4MaskFor(_prefixLength);

    internal UInt128 V6Network => _network;

    internal UInt128 V6Mask => V6MaskFor(_prefixLength);

    /// <summary>
    /// Parses <c>address/prefix</c>, or a bare address as a single-host network (/32 or /128).
    /// An address with bits set beyond the prefix is refused rather than silently truncated: <c>10.1.2.3/8</c> is
    /// more likely a typo than a request for all of 10.0.0.0/8.
    /// </summary>
    public static bool TryParse(string? text, out IpNetwork network, out string? error)
    {
        network = default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; expected a CIDR such as 10.0.0.0/8";
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseAddressStrict(addressText, out var address))
        {
            error = $"'{text}' is not an IP address or CIDR";
            return false;
        }

        ReadAddress(address, out var isV6, out var value);
        var maxPrefix = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        var prefix = maxPrefix;
        if (slash >= 0)
        {
            var prefixText = text[(slash + 1)..];
            if (!int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > maxPrefix)
            {
                error = $"'{text}' has an invalid prefix length (0-{maxPrefix.ToString(CultureInfo.InvariantCulture)})";
                return false;
            }
        }

        // A mapped IPv4 literal was written in IPv6 form, so its prefix counts the 96 bits of the ::ffff: header.
        if (!isV6 && address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (prefix < 96)
            {
                error = $"'{text}' covers more than the IPv4-mapped range ::ffff:0:0/96";
                return false;
            }

            prefix -= 96;
        }

        var hostBits = isV6 ? value & ~V6MaskFor(prefix) : value & ~(UInt128)V4MaskFor(prefix);
        if (hostBits != UInt128.Zero)
        {
            var suggestion = new IpNetwork(isV6 ? value & V6MaskFor(prefix) : value & V4MaskFor(prefix), prefix, isV6);
            error = $"'{text}' has host bits set; did you mean {suggestion}?";
            return false;
        }

        network = new IpNetwork(value, prefix, isV6);
        return true;
    }

    public static IpNetwork Parse(string text)
        => TryParse(text, out var network, out var error) ? network : throw new FormatException($"Network {error}");

    /// <summary>True when <paramref name="address"/> lies in this block. Does not allocate.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        ReadAddress(address, out var isV6, out var value);
        return isV6 == _isV6 && (isV6 ? ContainsV6(value) : ContainsV4((uint)value));
    }

    internal bool ContainsV4(uint address) => (address & V4Mask) == (uint)_network;

    internal bool ContainsV6(UInt128 address) => (address & V6Mask) == _network;

    /// <summary>
    /// Reads an address as a number, unwrapping IPv4-mapped IPv6 so that callers only ever compare like with like.
    /// </summary>
    internal static void ReadAddress(IPAddress address, out bool isV6, out UInt128 value)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            throw new ArgumentException("Unsupported address family.", nameof(address));
        }

        if (written == 4)
        {
            isV6 = false;
            value = BinaryPrimitives.ReadUInt32BigEndian(bytes);
            return;
        }

        if (IsMappedV4(bytes))
        {
            isV6 = false;
            value = BinaryPrimitives.ReadUInt32BigEndian(bytes[12..]);
            return;
        }

        isV6 = true;
        value = BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private static bool IsMappedV4(ReadOnlySpan<byte> bytes)
        => bytes[..10].IndexOfAnyExcept((byte)0) < 0 && bytes[10] == 0xff && bytes[11] == 0xff;

    // IPAddress.TryParse accepts legacy forms ("10" is 0.0.0.10, "10.1" is 10.0.0.1) and zone ids; in a config file
    // those are almost always mistakes, so only dotted quads and plain IPv6 literals are allowed.
    private static bool TryParseAddressStrict(string text, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(text, out var parsed))
        {
            return false;
        }

        if (parsed.AddressFamily == AddressFamily.InterNetwork && text.Count(c => c == '.') != 3)
        {
            return false;
        }

        address = parsed;
        return true;
    }

    // Shifting a 32-bit value by 32 is a no-op in C#, so /0 needs its own case (likewise /0 for 128 bits).
    private static uint V4MaskFor(int prefix) => prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);

    private static UInt128 V6MaskFor(int prefix) => prefix == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - prefix);

    public bool Equals(IpNetwork other)
        => _network == other._network && _prefixLength == other._prefixLength && _isV6 == other._isV6;

    public override bool Equals(object? obj) => obj is IpNetwork other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_network, _prefixLength, _isV6);

    public static bool operator ==(IpNetwork left, IpNetwork right) => left.Equals(right);

    public static bool operator !=(IpNetwork left, IpNetwork right) => !left.Equals(right);

    public override string ToString() => $"{BaseAddress}/{_prefixLength.ToString(CultureInfo.InvariantCulture)}";
}
