using TransparentSocks.Linux.Memory;
using static Tmds.Linux.LibC;

namespace TransparentSocks.Linux.Tests.Memory;

[Trait("Category", "Unit")]
public sealed unsafe class FilePagesTests
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

    [Fact]
    public void DropClean_ReadOnlyMappingWithAPrivateCopy_KeepsTheCopy()
    {
        // A private file mapping written to (its page is now a private copy), then made read-only: "r--p" with
        // Anonymous > 0 in smaps, the shape of a relocated page. MADV_DONTNEED would bring the file's bytes back.
        var path = Path.Combine(Path.GetTempPath(), $"ts-filepages-{Environment.ProcessId}-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, new byte[4096]);
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            var fd = (int)file.DangerousGetHandle();
            var map = mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            Assert.True(map != MAP_FAILED, "mmap");
            try
            {
                var bytes = (byte*)map;
                bytes[0] = 0x5a;
                bytes[4095] = 0xa5;
                Assert.Equal(0, mprotect(map, 4096, PROT_READ));

                _ = FilePages.DropClean();

                Assert.Equal(0x5a, bytes[0]);
                Assert.Equal(0xa5, bytes[4095]);
            }
            finally
            {
                _ = munmap(map, 4096);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
