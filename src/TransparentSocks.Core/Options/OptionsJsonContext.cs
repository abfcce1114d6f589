using System.Text.Json;
using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

// Unknown and duplicate keys are errors because a misspelt or repeated key in a hand-edited file would otherwise be
// ignored, leaving the daemon running with a default the operator believes they changed.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    RespectNullableAnnotations = true,
    WriteIndented = true)]
[JsonSerializable(typeof(TransparentSocksOptions))]
internal sealed partial class OptionsJsonContext : JsonSerializerContext;
