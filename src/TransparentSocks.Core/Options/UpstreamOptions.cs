using System.Text.Json.Serialization;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>
/// An upstream proxy connections are chained through, e.g. sing-box: the default one (<c>"upstream"</c>, named
/// <c>default</c>) or a named one in <c>"upstreams"</c>.
/// </summary>
public sealed class UpstreamOptions
{
    /// <summary>The name interfaces, the server and groups refer to it by; only in <c>"upstreams"</c>.</summary>
    public string? Name { get; set; }

    public UpstreamProtocol Protocol { get; set; } = UpstreamProtocol.Socks5;

    /// <summary><c>HOST:PORT</c>; required when anything routes through the upstream.</summary>
    public string? Address { get; set; }

    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>Relative to the config file.</summary>
    public string? PasswordFile { get; set; }

    [JsonPropertyName("connectTimeout")]
    public double ConnectTimeoutSeconds { get; set; } = 5;

    [JsonPropertyName("handshakeTimeout")]
    public double HandshakeTimeoutSeconds { get; set; } = 10;

    /// <summary>The mark <see cref="EffectiveMark"/> gives outbound sockets when the transparent path runs and <see cref="Mark"/> is 0.</summary>
    public const uint TransparentDefaultMark = 0x5454;

    /// <summary>
    /// SO_MARK for outbound sockets, 0 for none. A TPROXY setup needs one so that the nft rules can let the
    /// daemon's own traffic through instead of capturing it again; see <see cref="EffectiveMark"/>.
    /// Accepts a number or a "0x..." string.
    /// </summary>
    [JsonConverter(typeof(SocketMarkConverter))]
    public uint Mark { get; set; }

    [JsonIgnore]
    public TimeSpan ConnectTimeout => TimeSpan.FromSeconds(ConnectTimeoutSeconds);

    [JsonIgnore]
    public TimeSpan HandshakeTimeout => TimeSpan.FromSeconds(HandshakeTimeoutSeconds);

    /// <summary><see cref="Address"/> parsed, or null when none is configured; throws <see cref="FormatException"/> if it does not validate.</summary>
    [JsonIgnore]
    public Destination? Endpoint => Address is null ? null : Destination.Parse(Address);

    /// <summary>The password to send: <see cref="Password"/>, or the contents of <see cref="PasswordFile"/> once loaded.</summary>
    [JsonIgnore]
    public string? EffectivePassword => PasswordFile is null ? Password : PasswordFromFile;

    internal string? PasswordFromFile { get; set; }

    /// <summary>
    /// The SO_MARK to put on outbound sockets: <see cref="Mark"/> when set, otherwise
    /// <see cref="TransparentDefaultMark"/> while the transparent path runs, otherwise none (0). Outbound sockets need
    /// a mark when the transparent path runs so that nft can recognise the proxy's own traffic and not divert it back.
    /// </summary>
    public uint EffectiveMark(bool transparentEnabled) => Mark != 0 ? Mark : (transparentEnabled ? TransparentDefaultMark : 0u);

    /// <summary>
    /// Keep connections to the upstream open and already authenticated, so a new session only pays for CONNECT.
    /// </summary>
    public bool Pooling { get; set; }

    /// <summary>Idle pre-authenticated connections kept per upstream when pooling is on.</summary>
    public int MaxPoolSize { get; set; } = 8;

    /// <summary>
    /// Send the SOCKS5 greeting together with the request (or, with credentials, with them) instead of waiting for
    /// the method reply: a round trip fewer per connection. Off by default: a server must read each message exactly,
    /// as sing-box, danted and TransparentSocks do; microsocks loses what follows the greeting.
    /// </summary>
    public bool Pipelining { get; set; }

    /// <summary>The name only, so that logging an upstream can never print its password.</summary>
    public override string ToString() => Name ?? "default";
}
