using System.Text.Json;
using System.Text.Json.Nodes;

namespace TransparentSocks.Options;

/// <summary>
/// The daemon's configuration file, <c>/etc/transparentsocks/config.json</c>. Every key is optional.
/// Instances straight from <see cref="ConfigLoader"/> are validated and have password files read (by the caller's reader);
/// one built in code should go through <see cref="ConfigLoader.Validate"/> before use.
/// </summary>
public sealed class TransparentSocksOptions
{
    public ServerOptions Server { get; set; } = new();

    /// <summary>The upstream named <c>default</c>: what interfaces without an upstream of their own use.</summary>
    public UpstreamOptions Upstream { get; set; } = new();

    /// <summary>Named upstreams, for interfaces, the server and groups to refer to.</summary>
    public List<UpstreamOptions> Upstreams { get; set; } = [];

    /// <summary>Named groups of upstreams with health checks, failover and balancing.</summary>
    public List<GroupOptions> Groups { get; set; } = [];

    public TransparentOptions Transparent { get; set; } = new();

    public RelayOptions Relay { get; set; } = new();

    public LoggingOptions Logging { get; set; } = new();

    public ControlOptions Control { get; set; } = new();

    public MetricsOptions Metrics { get; set; } = new();

    /// <summary>
    /// The configuration as JSON with every password replaced, safe for logs and the control API.
    /// Password file paths are kept: they are not secret and help diagnose a failed login.
    /// </summary>
    public string ToRedactedJson(bool indented = false)
    {
        var node = JsonSerializer.SerializeToNode(this, OptionsJsonContext.Default.TransparentSocksOptions)!;
        Redact(node);
        return node.ToJsonString(indented ? IndentedWriter : CompactWriter);
    }

    /// <summary>Redacted, so that logging an options object can never leak a password.</summary>
    public override string ToString() => ToRedactedJson();

    internal const string RedactedValue = "***";

    // Only the writer settings of these are used; JsonNode needs no type metadata to print itself.
    private static readonly JsonSerializerOptions IndentedWriter = new() { WriteIndented = true };
    private static readonly JsonSerializerOptions CompactWriter = new() { WriteIndented = false };

    private static void Redact(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj.ToArray())
                {
                    if (string.Equals(name, "password", StringComparison.OrdinalIgnoreCase))
                    {
                        if (value is not null)
                        {
                            obj[name] = RedactedValue;
                        }
                    }
                    else
                    {
                        Redact(value);
                    }
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Redact(item);
                }

                break;
        }
    }
}
