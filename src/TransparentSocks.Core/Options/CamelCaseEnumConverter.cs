using System.Text.Json;
using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>
/// Enums as camelCase strings only. Unlike <see cref="JsonStringEnumConverter{TEnum}"/> it refuses numbers (a config
/// saying <c>"mode": 1</c> is unreadable) and its error lists the accepted values.
/// </summary>
internal sealed class CamelCaseEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly TEnum[] Values = Enum.GetValues<TEnum>();
    private static readonly string[] Names = Values.Select(v => JsonNamingPolicy.CamelCase.ConvertName(v.ToString())).ToArray();

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var text = reader.GetString();
            for (var i = 0; i < Names.Length; i++)
            {
                if (string.Equals(Names[i], text, StringComparison.OrdinalIgnoreCase))
                {
                    return Values[i];
                }
            }

            throw new JsonException($"'{text}' is not one of: {string.Join(", ", Names)}");
        }

        throw new JsonException($"expected a string, one of: {string.Join(", ", Names)}");
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        var index = Array.IndexOf(Values, value);
        if (index < 0)
        {
            throw new JsonException($"{value} is not a defined {typeof(TEnum).Name}");
        }

        writer.WriteStringValue(Names[index]);
    }
}
