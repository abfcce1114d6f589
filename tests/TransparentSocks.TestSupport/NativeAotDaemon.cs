using System.Diagnostics;
using System.Security.Cryptography;

namespace TransparentSocks.TestSupport;

/// <summary>
/// The NativeAOT build of the daemon, published at most once per source state: the JIT build the tests reference and
/// the binary that ships are different runtimes (the AOT one has no JIT, its own GC settings and thread pool), so a
/// behaviour that depends on the runtime must be tried on both.
/// </summary>
/// <remarks>
/// The build lands in <c>artifacts/aot-daemon/KEY/</c> of the checkout, where KEY hashes the sources under src/ and
/// the build settings, so a second test (or a second run, or a second test process, or a run after a commit that did
/// not touch src/) finds the binary and publishes nothing. Publishing takes minutes on a
/// small machine; the lock keeps two tests in one run, or two test processes, from doing it twice at once.
/// </remarks>
public static class NativeAotDaemon
{
    private const string BinaryName = "transparentsocksd";
    private const string CompleteMarker = "COMPLETE";
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(15);
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _built;

    /// <summary>
    /// The path of the NativeAOT daemon built from the checkout that <paramref name="daemonDll"/> (the JIT daemon the
    /// test project references) was built in, publishing it first if no build of its current sources exists.
    /// </summary>
    public static async Task<string> GetAsync(string daemonDll)
    {
        await Gate.WaitAsync();
        try
        {
            return _built ??= await BuildOnceAsync(daemonDll);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<string> BuildOnceAsync(string daemonDll)
    {
        var repo = FindCheckout(Path.GetDirectoryName(daemonDll)!);
        var root = Path.Combine(repo, "artifacts", "aot-daemon");
        Directory.CreateDirectory(root);
        var key = SourceKey(repo);
        var output = Path.Combine(root, key);
        var binary = Path.Combine(output, BinaryName);

        using var fileLock = await LockAsync(Path.Combine(root, ".lock"));
        if (File.Exists(Path.Combine(output, CompleteMarker)) && File.Exists(binary))
        {
            return binary;
        }

        // One build is kept: an older key is a build of sources that are gone.
        foreach (var stale in Directory.EnumerateDirectories(root).Where(d => Path.GetFileName(d) is { } n && n != "obj" && n != key))
        {
            Directory.Delete(stale, recursive: true);
        }

        var clock = Stopwatch.StartNew();
        // Its own artifacts path: the publish must not share src/*/obj with the build the test host is running from.
        var result = await ExternalProcess.RunAsync(
            "dotnet",
            ["publish", Path.Combine(repo, "src", "TransparentSocks.Daemon"), "-c", "Release", "-r", "linux-x64", "-o", output,
             "--artifacts-path", Path.Combine(root, "obj"), "-nologo", "-v", "quiet"],
            PublishTimeout);
        if (result.ExitCode != 0 || !File.Exists(binary))
        {
            throw new InvalidOperationException($"NativeAOT publish failed ({result.ExitCode}):\n{result.Output}\n{result.Error}");
        }

        await File.WriteAllTextAsync(Path.Combine(output, CompleteMarker), $"{key} published in {clock.Elapsed.TotalSeconds:0} s\n");
        return binary;
    }

    /// <summary>How long the last publish took, as its marker records it (for the CI cost); null when none is known.</summary>
    public static string? LastPublishNote(string binary)
    {
        var marker = Path.Combine(Path.GetDirectoryName(binary)!, CompleteMarker);
        return File.Exists(marker) ? File.ReadAllText(marker).Trim() : null;
    }

    private static string FindCheckout(string from)
    {
        for (var dir = new DirectoryInfo(from); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TransparentSocks.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no TransparentSocks.sln above {from}");
    }

    // The sources the publish reads: src/ (without its build output) and the build settings at the root. Not the
    // built assemblies: the SDK stamps the git commit into each, so every commit would change them and publish again
    // for the same sources.
    private static string SourceKey(string repo)
    {
        var files = Directory.EnumerateFiles(Path.Combine(repo, "src"), "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetRelativePath(repo, f).Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .Concat(new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" }
                .Select(f => Path.Combine(repo, f)).Where(File.Exists))
            .Order(StringComparer.Ordinal)
            .ToList();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetRelativePath(repo, file) + "\0"));
            hash.AppendData(File.ReadAllBytes(file));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }

    private static async Task<FileStream> LockAsync(string path)
    {
        var deadline = DateTime.UtcNow + PublishTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // Another test process is publishing; its build is the one this process will use.
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }
}
