using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>Request bodies in, replies out: the wire's JSON and the method check every route makes first.</summary>
internal static class Replies
{
    public static readonly ControlJsonContext Json = ControlJsonContext.Wire;

    /// <summary>An empty body is as wrong as a malformed one, so it is the same <see cref="JsonException"/>.</summary>
    public static T Read<T>(ControlRequest r, JsonTypeInfo<T> type)
        => JsonSerializer.Deserialize(r.Body.Span, type) ?? throw new JsonException("empty body");

    public static ControlResponse Ok<T>(T value, JsonTypeInfo<T> type) => new(200, JsonSerializer.SerializeToUtf8Bytes(value, type));

    public static ControlResponse? Get(ControlRequest r) => Method(r, "GET");

    public static ControlResponse? Post(ControlRequest r) => Method(r, "POST");

    public static ControlResponse? Put(ControlRequest r) => Method(r, "PUT");

    /// <summary>Null when the request uses the route's method, else the 405 to send instead.</summary>
    public static ControlResponse? Method(ControlRequest r, string expected)
        => r.Method == expected ? null : ControlResponse.Error(405, ErrorCodes.MethodNotAllowed, $"{r.Path} takes {expected}, not {r.Method}");
}
