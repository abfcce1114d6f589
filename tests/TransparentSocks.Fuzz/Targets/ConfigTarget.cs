using System.Text;
using TransparentSocks.Options;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// Config text through <see cref="ConfigLoader.Parse"/>, parser and validator: it never throws; a refusal lists errors
/// that each start with the path of the field at fault; an accepted config serialises to text that is accepted again
/// and serialises the same.
/// </summary>
public static class ConfigTarget
{
    private const string BaseDirectory = "/etc/transparentsocks";

    public static void Run(byte[] data)
    {
        // Invalid UTF-8 becomes U+FFFD, as File.ReadAllText would make it for the daemon.
        var json = Encoding.UTF8.GetString(data);
        var result = ConfigLoader.Parse(json, BaseDirectory, ReadPasswordFile);
        if (!result.IsValid)
        {
            InvariantViolationException.Check(result.Options is null && result.Errors.Count > 0, "config: refused without an error");
            foreach (var error in result.Errors)
            {
                InvariantViolationException.Check(NamesAField(error), $"config: the error '{error}' does not start with the path at fault");
            }

            return;
        }

        InvariantViolationException.Check(result.Errors.Count == 0, $"config: valid with errors: {result}");
        var serialized = ConfigLoader.Serialize(result.Options);
        var again = ConfigLoader.Parse(serialized, BaseDirectory, ReadPasswordFile);
        if (!again.IsValid)
        {
            throw new InvariantViolationException($"config: accepted, but its serialised form is refused: {again} in {serialized}");
        }

        var reserialized = ConfigLoader.Serialize(again.Options);
        InvariantViolationException.Check(reserialized == serialized, $"config: serialised twice it differs:{Environment.NewLine}{serialized}{Environment.NewLine}{reserialized}");
    }

    /// <summary>Every file ending in .pass holds a password; any other path is missing, as the disk would say.</summary>
    private static string ReadPasswordFile(string fullPath)
        => fullPath.EndsWith(".pass", StringComparison.Ordinal) ? "secret\n" : throw new FileNotFoundException($"Could not find file '{fullPath}'.", fullPath);

    private static bool NamesAField(string error)
    {
        var colon = error.IndexOf(": ", StringComparison.Ordinal);
        return colon > 0 && !char.IsWhiteSpace(error[0]) && colon + 2 < error.Length;
    }
}
