using TransparentSocks.Cli.Rendering;

namespace TransparentSocks.Cli.Tests;

[Trait("Category", "Unit")]
public sealed class HumanFormatTests
{
    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1023, "1023 B")]
    [InlineData(1024, "1.0 KiB (1024)")]
    [InlineData(1_572_864, "1.5 MiB (1572864)")]
    [InlineData(5_368_709_120, "5.0 GiB (5368709120)")]
    [InlineData(long.MaxValue, "8.0 EiB (9223372036854775807)")]
    public void Bytes_Value_IsRoundedWithRawAlongside(long bytes, string expected)
        => Assert.Equal(expected, HumanFormat.Bytes(bytes));

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(0.9, "0s")]
    [InlineData(45.7, "45s")]
    [InlineData(192, "3m12s")]
    [InlineData(3600, "1h00m")]
    [InlineData(7_500, "2h05m")]
    [InlineData(90_061, "1d01h")]
    [InlineData(-5, "0s")]
    public void Duration_Seconds_ShowsTwoLargestUnits(double seconds, string expected)
        => Assert.Equal(expected, HumanFormat.Duration(seconds));

    [Fact]
    public void Counts_Mixed_ListsNonZeroLargestFirst()
        => Assert.Equal(
            "refused 5, timeout 2",
            HumanFormat.Counts(new Dictionary<string, long> { ["timeout"] = 2, ["refused"] = 5, ["upstream_unavailable"] = 0 }));

    [Fact]
    public void Counts_Empty_SaysNone() => Assert.Equal("none", HumanFormat.Counts(new Dictionary<string, long>()));
}
