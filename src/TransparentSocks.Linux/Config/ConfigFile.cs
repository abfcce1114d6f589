using System.Text;
using TransparentSocks.Options;

namespace TransparentSocks.Linux.Config;

/// <summary>
/// The daemon's configuration file on disk: reads it and its password files, and writes it back. Parsing and
/// validation are <see cref="ConfigLoader"/>'s, which does no I/O.
/// </summary>
public static class ConfigFile
{
    public const string DefaultPath = "/etc/transparentsocks/config.json";

    /// <summary>The <see cref="PasswordFileReader"/> to give <see cref="ConfigLoader"/>: the file's whole text.</summary>
    public static string ReadPasswordFile(string fullPath) => File.ReadAllText(fullPath);

    /// <summary>Reads and validates a config file; relative password files are resolved against its directory.</summary>
    public static ConfigResult Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        string json;
        try
        {
            json = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ConfigResult.Invalid($"{fullPath}: cannot read the config file: {ex.Message}");
        }

        return ConfigLoader.Parse(json, Path.GetDirectoryName(fullPath), ReadPasswordFile);
    }

    /// <summary>
    /// Writes the options so that a reader sees either the old file or the new one, never half of each: the JSON goes
    /// to a temporary file in the same directory, is flushed to disk, then renamed over the target. Does not validate.
    /// A symlinked config is written through to its target so the link survives. Comments in the old file are lost.
    /// </summary>
    public static void Save(TransparentSocksOptions options, string path)
    {
        using var staged = Stage(options, path);
        staged.Commit();
    }

    /// <summary>
    /// The first half of <see cref="Save"/>: the new file written and flushed next to the target, not yet renamed
    /// over it. What can fail for lack of space or a read-only directory fails here, before the caller changes
    /// anything; only the rename is left for <see cref="StagedConfig.Commit"/>. Throws <see cref="IOException"/> or
    /// <see cref="UnauthorizedAccessException"/> with nothing left behind.
    /// </summary>
    public static StagedConfig Stage(TransparentSocksOptions options, string path)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var target = Path.GetFullPath(path);
        if (new FileInfo(target).LinkTarget is not null)
        {
            target = File.ResolveLinkTarget(target, returnFinalTarget: true)?.FullName ?? target;
        }

        var directory = Path.GetDirectoryName(target)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        var bytes = Encoding.UTF8.GetBytes(ConfigLoader.Serialize(options));
        var streamOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            // The file can hold passwords: keep the existing mode, and start new files readable by the owner only.
            streamOptions.UnixCreateMode = File.Exists(target)
                ? File.GetUnixFileMode(target)
                : UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var stream = new FileStream(temp, streamOptions);
            stream.Write(bytes);
            stream.Write("\n"u8);
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        return new StagedConfig(temp, target);
    }

    /// <summary>A config file written beside its target: <see cref="Commit"/> renames it into place, disposing an uncommitted one deletes it.</summary>
    public sealed class StagedConfig : IDisposable
    {
        private readonly string _temp;
        private readonly string _target;
        private bool _done;

        internal StagedConfig(string temp, string target)
        {
            _temp = temp;
            _target = target;
        }

        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_done, this);
            File.Move(_temp, _target, overwrite: true);
            _done = true;
        }

        public void Dispose()
        {
            if (!_done)
            {
                _done = true;
                TryDelete(_temp);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The original error is the one worth reporting; a stray temp file is harmless.
        }
    }
}
