using TransparentSocks.Linux.Memory;

namespace TransparentSocks.Linux.Tests.Memory;

[Trait("Category", "Unit")]
public sealed class FilePagesTests
{
    [Fact]
    public void DropClean_InARunningProcess_UnmapsCodePagesAndTheCodeStillRuns()
    {
        var dropped = FilePages.DropClean();

        // The test host has mapped code (libc, the runtime) by now; what was unmapped faults back in when it runs.
        Assert.True(dropped.Mappings > 0, "no clean read-only file mapping was found");
        Assert.True(dropped.KiB > 0);
        Assert.Equal("3", (1 + 2).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(FilePages.DropClean().Mappings > 0);
    }
}
