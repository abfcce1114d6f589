using System.Net;
using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>Prometheus metrics over HTTP. Off by default; loopback when enabled unless told otherwise.</summary>
public sealed class MetricsOptions
{
    public bool Enabled { get; set; }

    /// <summary>IP:PORT serving <c>/metrics</c>.</summary>
    public string Listen { get; set; } = "127.0.0.1:9464";

    [JsonIgnore]
    public IPEndPoint ListenEndPoint
        => ServerOptions.TryParseListen(Listen, out var endPoint, out var error) ? endPoint : throw new FormatException($"metrics.listen: {error}");
}
