using System.Text.Json;
using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>
/// Enums as camelCase strings only. Unlike <see cref="JsonStringEnumConverter{TEnum}"/> it refuses numbers (a config
/// saying <c>"mode": 1</c> is unreadable) and its error lists the accepted values.
/// </summary>
internal sealed class CamelCaseEnumConverter<TEnum> : NamedEnumConverter<TEnum>
    where TEnum : struct, Enum
{
    public CamelCaseEnumConverter()
        : base(JsonNamingPolicy.CamelCase)
    {
    }
}

/// <summary>Enums as kebab-case strings (<c>"round-robin"</c>), where the documented values are written that way.</summary>
internal sealed class KebabCaseEnumConverter<TEnum> : NamedEnumConverter<TEnum>
    where TEnum : struct, Enum
{
    public KebabCaseEnumConverter()
        : base(JsonNamingPolicy.KebabCaseLower)
    {
    }
}

/// <summary>Enums as strings under one naming policy; numbers are refused and errors list the accepted values.</summary>
internal abstract class NamedEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly TEnum[] Values = Enum.GetValues<TEnum>();
    private readonly string[] _names;

    protected NamedEnumConverter(JsonNamingPolicy policy) => _names = [.. Values.Select(v => policy.ConvertName(v.ToString()))];

    /// <summary>The name <paramref name="value"/> is written as.</summary>
    public string NameOf(TEnum value) => _names[Array.IndexOf(Values, value)];

    /// <summary>Parses a name as the JSON reader would; null when it is not one.</summary>
    public TEnum? TryParse(string? text)
    {
        for (var i = 0; i < _names.Length; i++)
        {
            if (string.Equals(_names[i], text, StringComparison.OrdinalIgnoreCase))
            {
                return Values[i];
            }
        }

        return null;
    }

    /// <summary>The accepted names, for messages.</summary>
    public string Accepted => string.Join(", ", _names);

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var text = reader.GetString();
            if (TryParse(text) is { } value)
            {
                return value;
            }

            throw new JsonException($"'{text}' is not one of: {string.Join(", ", _names)}");
        }

        throw new JsonException($"expected a string, one of: {string.Join(", ", _names)}");
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        var index = Array.IndexOf(Values, value);
        if (index < 0)
        {
            throw new JsonException($"{value} is not a defined {typeof(TEnum).Name}");
        }

        writer.WriteStringValue(_names[index]);
    }
}
