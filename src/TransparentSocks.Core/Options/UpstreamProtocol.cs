using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>How the daemon talks to an upstream proxy.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<UpstreamProtocol>))]
public enum UpstreamProtocol
{
    /// <summary>SOCKS5 (RFC 1928), with RFC 1929 auth when a username is set; carries TCP and UDP.</summary>
    Socks5,

    /// <summary>HTTP/1.1 CONNECT, with Basic auth when a username is set; carries TCP only.</summary>
    Http,
}
