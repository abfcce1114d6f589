using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>How nft diverts connections arriving on an enabled interface to the transparent listener.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<TransparentMode>))]
public enum TransparentMode
{
    /// <summary>
    /// TPROXY: the packet keeps its original destination and policy routing delivers it locally, so the listener
    /// reads the destination from the socket itself. Needs the fwmark, route table and rule below.
    /// </summary>
    Tproxy,

    /// <summary>
    /// DNAT to the listener port; the original destination is recovered with SO_ORIGINAL_DST. Works without policy
    /// routing but rewrites the packet, so it depends on conntrack.
    /// </summary>
    Redirect,
}
