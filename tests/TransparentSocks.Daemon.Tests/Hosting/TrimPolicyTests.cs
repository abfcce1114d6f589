using TransparentSocks.Daemon.Hosting;

namespace TransparentSocks.Daemon.Tests.Hosting;

/// <summary>When the daemon gives its heap's garbage back: once after a burst, when allocation has gone quiet.</summary>
[Trait("Category", "Unit")]
public sealed class TrimPolicyTests
{
    private const long MiB = 1 << 20;
    private const long Start = 10 * MiB;

    [Fact]
    public void Burst_ThenTwoQuietPeriods_TrimsOnceAtTheSecond()
    {
        var policy = new TrimPolicy(Start);

        Assert.False(policy.ShouldTrim(Start + (3 * MiB)));          // the burst
        Assert.False(policy.ShouldTrim(Start + (3 * MiB) + 1000));   // quiet once
        Assert.True(policy.ShouldTrim(Start + (3 * MiB) + 2000));    // quiet twice
    }

    [Fact]
    public void AfterATrim_QuietGoesOn_NoSecondTrim()
    {
        var policy = new TrimPolicy(Start);
        _ = policy.ShouldTrim(Start + (3 * MiB));
        _ = policy.ShouldTrim(Start + (3 * MiB));
        Assert.True(policy.ShouldTrim(Start + (3 * MiB)));
        policy.Trimmed(Start + (3 * MiB) + 5000, heapBytes: 4 * MiB);

        for (var i = 0; i < 100; i++)
        {
            Assert.False(policy.ShouldTrim(Start + (3 * MiB) + 5000 + (i * 1000)));
        }
    }

    [Fact]
    public void SteadyAllocation_NeverQuiet_NeverTrims()
    {
        var policy = new TrimPolicy(Start);
        var allocated = Start;
        for (var i = 0; i < 1000; i++)
        {
            allocated += TrimPolicy.QuietBytes;
            Assert.False(policy.ShouldTrim(allocated));
        }
    }

    [Fact]
    public void LittleGarbage_IsNotWorthACollection()
    {
        var policy = new TrimPolicy(Start);
        var allocated = Start;
        for (var i = 0; i < 15; i++)
        {
            allocated += TrimPolicy.QuietBytes - 1;
            Assert.False(policy.ShouldTrim(allocated));
        }

        // Quiet for 15 periods in a row, and still under a mebibyte since the start: nothing to give back.
        Assert.True(allocated - Start < TrimPolicy.MinBurstBytes);
    }

    [Fact]
    public void LargeHeap_NeedsABurstOfAnEighthOfItself()
    {
        var policy = new TrimPolicy(Start);
        policy.Trimmed(Start, heapBytes: 80 * MiB);

        // 5 MiB of garbage on an 80 MiB heap: not worth a full collection yet.
        Assert.False(policy.ShouldTrim(Start + (5 * MiB)));
        Assert.False(policy.ShouldTrim(Start + (5 * MiB)));
        Assert.False(policy.ShouldTrim(Start + (5 * MiB)));

        // Another 6 MiB (11 in all, past 80 / 8), then quiet: trim.
        Assert.False(policy.ShouldTrim(Start + (11 * MiB)));
        Assert.False(policy.ShouldTrim(Start + (11 * MiB)));
        Assert.True(policy.ShouldTrim(Start + (11 * MiB)));
    }
}
