using System.Net.Sockets;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Tests.Sockets;

[Trait("Category", "Unit")]
public sealed class ErrnoTests
{
    [Theory]
    [InlineData(Errno.EMFILE, "EMFILE")]
    [InlineData(Errno.ENFILE, "ENFILE")]
    [InlineData(Errno.ENOBUFS, "ENOBUFS")]
    [InlineData(Errno.ENOMEM, "ENOMEM")]
    public void Describe_Exhaustion_NamesTheErrno(Errno errno, string name)
        => Assert.Contains(name, errno.Describe(), StringComparison.Ordinal);

    [Theory]
    [InlineData(Errno.EMFILE)]
    [InlineData(Errno.ENFILE)]
    public void ToSocketError_OutOfDescriptors_IsTooManyOpenSocketsNotUnknown(Errno errno)
    {
        Assert.Equal(SocketError.TooManyOpenSockets, errno.ToSocketError());
        Assert.DoesNotContain("Unknown", new SocketException((int)errno.ToSocketError()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_UnnamedErrno_GivesTheNumberOnce()
        => Assert.Equal("errno 77", ((Errno)77).Describe());
}
