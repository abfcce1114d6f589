using System.Globalization;

namespace TransparentSocks.Options;

/// <summary>
/// The one rule for every duration an operator sets, in the config file, over the control API or on the command
/// line: seconds, decimals allowed, that are a whole number of milliseconds inside the field's range.
/// </summary>
/// <remarks>
/// Timers count whole milliseconds, and the relay reads a deadline of 0 ms as "no deadline": a positive value below
/// one millisecond, or one that is not a whole number of them, would be rounded (to none at worst) and shown as
/// something else than what runs. Refusing it keeps what is saved, shown and applied the same.
/// </remarks>
public static class Durations
{
    /// <summary>The shortest timeout: 1 ms.</summary>
    public const double MinSeconds = 0.001;

    /// <summary>
    /// The longest: some timeout APIs take int milliseconds, so a huge value fails when it is set rather than at the
    /// first connection that arms the timer.
    /// </summary>
    public const double MaxSeconds = int.MaxValue / 1000;

    /// <summary>UDP has no close: a flow that outlives its client holds its sockets until the timeout, so a day is the ceiling.</summary>
    public const double MaxUdpSeconds = 86400;

    /// <summary>
    /// Why <paramref name="seconds"/> is not a duration between <paramref name="min"/> and <paramref name="max"/>,
    /// prefixed with <paramref name="field"/>; null when it is one.
    /// </summary>
    public static string? Check(string field, double seconds, double min = MinSeconds, double max = MaxSeconds)
    {
        var range = $"between {Format(min)} and {Format(max)} seconds, in whole milliseconds";
        if (double.IsNaN(seconds))
        {
            return $"{field}: is not a number; must be {range}";
        }

        if (double.IsInfinity(seconds))
        {
            // JSON and the parsers turn a number too large for a double (1e400) into infinity.
            return $"{field}: is too large to be a number of seconds; must be {range}";
        }

        if (seconds < min || seconds > max)
        {
            return $"{field}: {Format(seconds)} is out of range; must be {range}";
        }

        // Within the range a double converts to decimal exactly enough (15 significant digits) to tell 0.0015 from 0.002.
        if ((decimal)seconds * 1000 % 1 != 0)
        {
            return $"{field}: {Format(seconds)} is not a whole number of milliseconds; must be {range}";
        }

        return null;
    }

    private static string Format(double seconds) => seconds.ToString(CultureInfo.InvariantCulture);
}
