using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>Where the SOCKS5 server sends accepted connections.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<OutboundKind>))]
public enum OutboundKind
{
    /// <summary>Connect to the destination from this host.</summary>
    Direct,

    /// <summary>Chain through the configured upstream SOCKS5 server.</summary>
    Upstream,
}
