using System.Diagnostics;

namespace TransparentSocks.TestSupport;

/// <summary>Waiting for something another process does, bounded in time, without a fixed sleep.</summary>
public static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    /// <summary>Checks <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes; returns the last check.</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var elapsed = Stopwatch.StartNew();
        while (!condition())
        {
            if (elapsed.Elapsed >= timeout)
            {
                return condition();
            }

            await Task.Delay(Interval);
        }

        return true;
    }
}
