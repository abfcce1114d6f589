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
public sealed partial class ControlJsonContext : JsonSerializerContext;
