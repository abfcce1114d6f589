using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace TransparentSocks.Cli.Rendering;

/// <summary>
/// Re-indents a response exactly as the daemon sent it: fields this CLI does not know yet are kept, so <c>--json</c>
/// never hides what a newer daemon reports.
/// </summary>
internal static class JsonText
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,

        // A terminal, not an HTML page: keep '+', '<' and non-ASCII names readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static bool TryIndent(string json, out string indented)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer, Options))
            {
                document.WriteTo(writer);
            }

            indented = Encoding.UTF8.GetString(buffer.WrittenSpan);
            return true;
        }
        catch (JsonException)
        {
            indented = string.Empty;
            return false;
        }
    }
}
