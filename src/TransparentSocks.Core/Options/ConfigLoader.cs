using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TransparentSocks.Options;

/// <summary>
/// Parses, validates and serialises the daemon's JSON configuration. No file I/O here: the caller reads the config
/// text and hands in a <see cref="PasswordFileReader"/> for any password files.
/// </summary>
public static partial class ConfigLoader
{
    /// <summary>
    /// Parses and validates config text. Comments and trailing commas are allowed; unknown or repeated keys are errors.
    /// </summary>
    /// <param name="baseDirectory">Where relative password files are looked up; the current directory when null.</param>
    /// <param name="readPasswordFile">Reads password files; without it, any passwordFile key is reported as an error.</param>
    public static ConfigResult Parse(string json, string? baseDirectory, PasswordFileReader? readPasswordFile = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        TransparentSocksOptions? options;
        try
        {
            options = JsonSerializer.Deserialize(json.TrimStart('\uFEFF'), OptionsJsonContext.Default.TransparentSocksOptions);
        }
        catch (JsonException ex)
        {
            return ConfigResult.Invalid(Describe(ex));
        }

        if (options is null)
        {
            return ConfigResult.Invalid("$: expected an object, found null");
        }

        var errors = ConfigValidator.Validate(options, baseDirectory, readPasswordFile);
        return errors.Count == 0 ? ConfigResult.Valid(options) : ConfigResult.Invalid(errors);
    }

    /// <summary>
    /// Validates options built or edited in code and reads their password files through
    /// <paramref name="readPasswordFile"/>. Returns the errors, empty when valid.
    /// </summary>
    public static IReadOnlyList<string> Validate(TransparentSocksOptions options, string? baseDirectory, PasswordFileReader? readPasswordFile = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return ConfigValidator.Validate(options, baseDirectory, readPasswordFile);
    }

    /// <summary>The options as config-file JSON. Includes inline passwords: write it to a file, never to a log.</summary>
    public static string Serialize(TransparentSocksOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return JsonSerializer.Serialize(options, OptionsJsonContext.Default.TransparentSocksOptions);
    }

    /// <summary>
    /// Turns a serializer error into <c>path: reason (line L, byte B)</c>. The serializer's own text ends with a
    /// machine-style location suffix and names .NET types, which mean nothing to someone editing the file.
    /// </summary>
    private static string Describe(JsonException ex)
    {
        var path = ex.Path is null or "$" ? "$" : ex.Path.StartsWith("$.", StringComparison.Ordinal) ? ex.Path[2..] : ex.Path[1..];
        var message = ex.Message;
        var suffix = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (suffix < 0)
        {
            suffix = message.IndexOf(" LineNumber: ", StringComparison.Ordinal);
        }

        if (suffix >= 0)
        {
            message = message[..suffix];
        }

        var unmapped = UnmappedPropertyPattern().Match(message);
        if (unmapped.Success)
        {
            var name = unmapped.Groups[1].Value;
            if (name.Length == 0)
            {
                // The serializer's path for an empty key ends in a bare dot ("$." at the top), which names nothing
                // once trimmed; the object holding the key is the field at fault.
                var parent = path.TrimEnd('.');
                path = parent.Length == 0 ? "$" : parent;
                message = "unknown property \"\"";
            }
            else
            {
                path = path.EndsWith(name, StringComparison.Ordinal) ? path : path == "$" ? name : $"{path}.{name}";
                message = "unknown property";
            }
        }
        else if (ConversionPattern().Match(message) is { Success: true } conversion)
        {
            message = $"expected {Describe(conversion.Groups[1].Value)}";
        }
        else if (message.StartsWith("Duplicate property ", StringComparison.Ordinal))
        {
            message = "appears more than once";
        }
        else if (message.Contains("doesn't allow setting null values", StringComparison.Ordinal))
        {
            message = "must not be null";
        }
        else if (path.EndsWith("password", StringComparison.OrdinalIgnoreCase))
        {
            // Reader errors quote the offending text, which here would be an unquoted password.
            message = "is not valid JSON; quote the password as a string";
        }
        else
        {
            message = message.ReplaceLineEndings(" ");
        }

        var location = ex.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $" (line {line + 1}, byte {(ex.BytePositionInLine ?? 0) + 1})")
            : string.Empty;
        return $"{path}: {message}{location}";
    }

    private static string Describe(string typeName) => typeName switch
    {
        "System.Boolean" => "true or false",
        "System.String" => "a string",
        "System.Double" => "a number",
        "System.Int32" => "an integer",
        _ when typeName.StartsWith("System.Collections.Generic.List", StringComparison.Ordinal) => "an array",
        _ when typeName.StartsWith("TransparentSocks.Options.", StringComparison.Ordinal) => "an object",
        _ => typeName,
    };

    [GeneratedRegex("^The JSON property '(.*)' could not be mapped to any \\.NET member")]
    private static partial Regex UnmappedPropertyPattern();

    [GeneratedRegex("^The JSON value could not be converted to ([^ ]+)\\.$")]
    private static partial Regex ConversionPattern();
}
