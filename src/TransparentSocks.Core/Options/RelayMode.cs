using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

[JsonConverter(typeof(CamelCaseEnumConverter<RelayMode>))]
public enum RelayMode
{
    /// <summary>Zero-copy through a kernel pipe; falls back to <see cref="Copy"/> where splice is unsupported.</summary>
    Splice,

    /// <summary>Read into a user-space buffer and write it out.</summary>
    Copy,
}
