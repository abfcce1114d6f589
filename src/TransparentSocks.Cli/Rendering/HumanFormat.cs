using System.Globalization;

namespace TransparentSocks.Cli.Rendering;

/// <summary>Numbers as an operator reads them; raw byte counts stay next to the rounded ones so they can be compared.</summary>
internal static class HumanFormat
{
    private static readonly string[] ByteUnits = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    /// <summary>"512 B", or "1.5 MiB (1572864)".</summary>
    public static string Bytes(long bytes)
    {
        if (bytes is > -1024 and < 1024)
        {
            return $"{Number(bytes)} B";
        }

        double value = bytes;
        var unit = -1;
        while (Math.Abs(value) >= 1024 && unit < ByteUnits.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return $"{value.ToString("0.0", CultureInfo.InvariantCulture)} {ByteUnits[unit]} ({Number(bytes)})";
    }

    /// <summary>"45s", "3m12s", "2h05m", "3d04h": the two largest units, whole seconds.</summary>
    public static string Duration(double seconds)
    {
        if (double.IsNaN(seconds) || seconds < 1)
        {
            return "0s";
        }

        var total = seconds >= long.MaxValue ? long.MaxValue : (long)Math.Floor(seconds);
        var days = total / 86_400;
        var hours = total / 3_600 % 24;
        var minutes = total / 60 % 60;
        var secs = total % 60;
        var inv = CultureInfo.InvariantCulture;
        if (days > 0)
        {
            return string.Create(inv, $"{days}d{hours:00}h");
        }

        if (hours > 0)
        {
            return string.Create(inv, $"{hours}h{minutes:00}m");
        }

        return minutes > 0 ? string.Create(inv, $"{minutes}m{secs:00}s") : string.Create(inv, $"{secs}s");
    }

    /// <summary>Seconds as configured: "300 s", "2.5 s".</summary>
    public static string Seconds(double seconds) => $"{seconds.ToString("0.###", CultureInfo.InvariantCulture)} s";

    public static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string OnOff(bool value) => value ? "on" : "off";

    public static string YesNo(bool value) => value ? "yes" : "no";

    public static string OrDash(string? value) => string.IsNullOrEmpty(value) ? "-" : value;

    /// <summary>"refused 2, timeout 1", largest first, or "none".</summary>
    public static string Counts(IReadOnlyDictionary<string, long> counts)
    {
        var nonZero = counts.Where(c => c.Value != 0)
            .OrderByDescending(c => c.Value)
            .ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => $"{c.Key} {Number(c.Value)}")
            .ToList();
        return nonZero.Count == 0 ? "none" : string.Join(", ", nonZero);
    }
}
