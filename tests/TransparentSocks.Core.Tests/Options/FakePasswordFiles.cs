using TransparentSocks.Options;

namespace TransparentSocks.Core.Tests.Options;

/// <summary>Password-file readers that never touch the disk, so the parser's handling of password files stays a unit test.</summary>
internal static class FakePasswordFiles
{
    /// <summary>Where the fakes pretend the config file lives.</summary>
    public const string BaseDirectory = "/etc/transparentsocks";

    /// <summary>Reads from <paramref name="files"/>, keyed by full path; any other path fails as a missing file does.</summary>
    public static PasswordFileReader Of(params (string FullPath, string Contents)[] files)
    {
        var contents = files.ToDictionary(f => f.FullPath, f => f.Contents, StringComparer.Ordinal);
        return fullPath => contents.TryGetValue(fullPath, out var text) ? text : throw new FileNotFoundException($"Could not find file '{fullPath}'.", fullPath);
    }

    /// <summary>Fails every read with <paramref name="exception"/>, as a real reader does on an I/O or permission error.</summary>
    public static PasswordFileReader Failing(Exception exception) => _ => throw exception;
}
