using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TransparentSocks.Control;

/// <summary>Source-generated JSON for every control message, shared by the daemon and the CLI (NativeAOT, no reflection).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(MessageResponse))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(InterfaceInfo))]
[JsonSerializable(typeof(SessionsResponse))]
[JsonSerializable(typeof(UpstreamsResponse))]
[JsonSerializable(typeof(UpstreamInfo))]
[JsonSerializable(typeof(SettingsInfo))]
[JsonSerializable(typeof(EnableInterfaceRequest))]
[JsonSerializable(typeof(ServerStartRequest))]
[JsonSerializable(typeof(SetEndpointRequest))]
[JsonSerializable(typeof(SetTimeoutRequest))]
[JsonSerializable(typeof(SetPoolingRequest))]
[JsonSerializable(typeof(SetMaxPoolSizeRequest))]
[JsonSerializable(typeof(SetVerboseRequest))]
[JsonSerializable(typeof(SetUpstreamRequest))]
[JsonSerializable(typeof(SetGroupRequest))]
public sealed partial class ControlJsonContext : JsonSerializerContext
{
    /// <summary>
    /// What the daemon writes. The default encoder escapes quotes and angle brackets for HTML (an interface name in
    /// an error came out as \u0027eth9\u0027); nothing here is embedded in HTML, so people reading
    /// <c>curl --unix-socket</c> output get the characters themselves. Readers accept either form.
    /// </summary>
    public static ControlJsonContext Wire => _wire ??= new(new JsonSerializerOptions(Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    // Lazy: static initializers across the generated partial run in no promised order, so Default may not exist yet.
    private static ControlJsonContext? _wire;
}
