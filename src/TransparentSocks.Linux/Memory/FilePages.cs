using System.Globalization;
using static Tmds.Linux.LibC;

namespace TransparentSocks.Linux.Memory;

/// <summary>
/// Unmaps the clean pages of the process's read-only file mappings (the binary's code and read-only data, libc's)
/// with <c>MADV_DONTNEED</c>. On a fault the kernel maps every page the page cache holds in the 64 KiB around it
/// (fault-around), so once a NativeAOT daemon has started nearly its whole code section counts in its RSS, though
/// what it runs while idle is a small part of it. The pages stay in the page cache: whatever runs next faults them
/// back in from there (a minor fault, no I/O).
/// </summary>
/// <remarks>
/// Only a private mapping without write permission that holds no private page (<c>Anonymous: 0</c> in
/// <c>/proc/self/smaps</c>) is advised: for such a mapping MADV_DONTNEED is the same as never having touched it. A
/// relocated page (RELRO), .data or .bss has a private copy, or is writable, and is never discarded.
/// </remarks>
public static unsafe class FilePages
{
    /// <summary>What <see cref="DropClean"/> unmapped: the mappings and their resident KiB just before.</summary>
    public readonly record struct Dropped(int Mappings, long KiB);

    /// <summary>Advises every such mapping; nothing when /proc/self/smaps cannot be read (it is only memory, never a failure).</summary>
    public static Dropped DropClean()
    {
        List<(ulong Start, ulong Length, long KiB)> ranges;
        try
        {
            ranges = CleanMappings();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return default;
        }

        var mappings = 0;
        long dropped = 0;
        foreach (var (s, l, kib) in ranges)
        {
            if (madvise((void*)s, (Tmds.Linux.size_t)l, MADV_DONTNEED) == 0)
            {
                mappings++;
                dropped += kib;
            }
        }

        return new Dropped(mappings, dropped);
    }

    // Collected first, advised after, so that no madvise runs between two reads of /proc/self/smaps.
    private static List<(ulong Start, ulong Length, long KiB)> CleanMappings()
    {
        var ranges = new List<(ulong Start, ulong Length, long KiB)>();
        ulong start = 0, length = 0;
        long rss = 0;
        var candidate = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (char.IsAsciiDigit(line[0]) || char.IsAsciiHexDigitLower(line[0]))
            {
                // A mapping's first line, "start-end perms offset dev inode path"; its fields ("Rss:   12 kB") follow.
                candidate = IsCleanCandidate(line, out start, out length);
                rss = 0;
            }
            else if (candidate && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                rss = KiB(line);
            }
            else if (candidate && line.StartsWith("Anonymous:", StringComparison.Ordinal))
            {
                if (rss > 0 && KiB(line) == 0)
                {
                    ranges.Add((start, length, rss));
                }

                candidate = false;
            }
        }

        return ranges;
    }

    // A private, read-only mapping of a file: "r-xp" or "r--p", with an inode and a path (not [vdso] or [heap]).
    private static bool IsCleanCandidate(string line, out ulong start, out ulong length)
    {
        start = length = 0;
        var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 6 || parts[1] is not ("r-xp" or "r--p") || parts[4] == "0" || !parts[5].TrimStart().StartsWith('/'))
        {
            return false;
        }

        var dash = parts[0].IndexOf('-', StringComparison.Ordinal);
        if (dash < 0
            || !ulong.TryParse(parts[0].AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var from)
            || !ulong.TryParse(parts[0].AsSpan(dash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var to)
            || to <= from)
        {
            return false;
        }

        start = from;
        length = to - from;
        return true;
    }

    // "Rss:                 120 kB" → 120; -1 when the line is not of that form.
    private static long KiB(string line)
    {
        var value = line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim();
        var space = value.IndexOf(' ');
        return long.TryParse(space < 0 ? value : value[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib : -1;
    }
}
