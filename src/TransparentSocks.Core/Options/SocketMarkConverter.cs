using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>
/// A 32-bit SO_MARK as a JSON number or a string, decimal or "0x" hex. Strings are accepted because nft and ip-rule
/// write marks in hex and JSON has no hex literals.
/// </summary>
internal sealed class SocketMarkConverter : JsonConverter<uint>
{
    private const string Expected = "expected a number 0-4294967295 or a string such as \"0x1\"";

    public override uint Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        uint mark;
        if (reader.TokenType == JsonTokenType.Number)
        {
            return reader.TryGetUInt32(out mark) ? mark : throw new JsonException(Expected);
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException(Expected);
        }

        var text = reader.GetString()!.Trim();
        var parsed = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out mark)
            : uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out mark);
        return parsed ? mark : throw new JsonException($"'{text}' is not a mark; {Expected}");
    }

    public override void Write(Utf8JsonWriter writer, uint value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
}
