using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>The minimum level logged. Core has no logging dependency, so the daemon maps this to its logger's levels.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<LogLevelName>))]
public enum LogLevelName
{
    Verbose,
    Debug,
    Information,
    Warning,
    Error,
}
