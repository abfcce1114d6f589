using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.Addressing;

/// <summary>
/// Where a connection wants to go: an IP address or a host name, plus a port.
/// A name is kept as a name so that it can be resolved where the policy says
/// (locally for direct connections, by the upstream for a proxy chain).
/// </summary>
public readonly struct Destination : IEquatable<Destination>
{
    private Destination(IPAddress? address, string? host, int port)
    {
        Address = address;
        Host = host;
        Port = port;
    }

    /// <summary>The IP address, or null when the destination is a host name.</summary>
    public IPAddress? Address { get; }

    /// <summary>The host name, or null when the destination is an IP address.</summary>
    public string? Host { get; }

    public int Port { get; }

    [MemberNotNullWhen(true, nameof(Host))]
    [MemberNotNullWhen(false, nameof(Address))]
    public bool IsDomain => Host is not null;

    public bool IsDefault => Address is null && Host is null;

    public static Destination FromAddress(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return new Destination(address, null, port);
    }

    public static Destination FromEndPoint(IPEndPoint endPoint) => FromAddress(endPoint.Address, endPoint.Port);

    /// <summary>A host name; a name that is an IP literal becomes an address.</summary>
    public static Destination FromHost(string host, int port)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        if (IPAddress.TryParse(host, out var ip))
        {
            return FromAddress(ip, port);
        }

        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return new Destination(null, host, port);
    }

    public IPEndPoint? ToEndPoint() => Address is null ? null : new IPEndPoint(Address, Port);

    /// <summary>
    /// Parses <c>host:port</c>, <c>1.2.3.4:port</c> or <c>[v6]:port</c>. A bare IPv6 literal without brackets is refused
    /// because its last group cannot be told apart from a port.
    /// </summary>
    public static bool TryParse(string? text, out Destination destination, out string? error)
    {
        destination = default;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; expected HOST:PORT";
            return false;
        }

        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"'{text}' is not [IPv6]:PORT";
                return false;
            }

            host = text[1..close];
            portText = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"'{host}' is not an IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = $"'{text}' is not HOST:PORT (write IPv6 addresses as [addr]:port)";
                return false;
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 0 or > 65535)
        {
            error = $"'{portText}' is not a port number (0-65535)";
            return false;
        }

        if (IPAddress.TryParse(host, out var address))
        {
            destination = FromAddress(address, port);
            return true;
        }

        if (host.Length is 0 or > 255 || host.Any(c => c <= ' ' || c == '/' || c > '~'))
        {
            error = $"'{host}' is not a host name";
            return false;
        }

        destination = new Destination(null, host, port);
        return true;
    }

    public static Destination Parse(string text)
        => TryParse(text, out var d, out var error) ? d : throw new FormatException($"Destination {error}");

    public bool Equals(Destination other)
        => Port == other.Port
           && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase)
           && Equals(Address, other.Address);

    public override bool Equals(object? obj) => obj is Destination other && Equals(other);

    public override int GetHashCode()
        => HashCode.Combine(Port, Host is null ? 0 : StringComparer.OrdinalIgnoreCase.GetHashCode(Host), Address);

    public static bool operator ==(Destination left, Destination right) => left.Equals(right);

    public static bool operator !=(Destination left, Destination right) => !left.Equals(right);

    public override string ToString()
    {
        if (Host is not null)
        {
            return $"{Host}:{Port.ToString(CultureInfo.InvariantCulture)}";
        }

        if (Address is null)
        {
            return "<none>";
        }

        return Address.AddressFamily == AddressFamily.InterNetworkV6
            ? $"[{Address}]:{Port.ToString(CultureInfo.InvariantCulture)}"
            : $"{Address}:{Port.ToString(CultureInfo.InvariantCulture)}";
    }
}
