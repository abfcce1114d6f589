using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TransparentSocks.Cli.Commands;

/// <summary>One call on the control socket: method, path with query, and the JSON body if the route takes one.</summary>
internal sealed record ControlRequest(HttpMethod Method, string Path, byte[]? Body)
{
    public static ControlRequest Get(string path) => new(HttpMethod.Get, path, null);

    public static ControlRequest Post(string path) => new(HttpMethod.Post, path, null);

    public static ControlRequest Post<T>(string path, T body, JsonTypeInfo<T> type)
        => new(HttpMethod.Post, path, JsonSerializer.SerializeToUtf8Bytes(body, type));

    public static ControlRequest Put<T>(string path, T body, JsonTypeInfo<T> type)
        => new(HttpMethod.Put, path, JsonSerializer.SerializeToUtf8Bytes(body, type));
}
