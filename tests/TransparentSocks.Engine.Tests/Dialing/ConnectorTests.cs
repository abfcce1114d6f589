using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Dialing;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Engine.Tests.Dialing;

[Trait("Category", "Unit")]
public sealed class ConnectorTests : IDisposable
{
    private static readonly ConnectOptions Options = new(TimeSpan.FromSeconds(5), Mark: 0);
    private readonly EventLoopGroup _loops = new(1);

    public void Dispose() => _loops.Dispose();

    private static int ClosedPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task ConnectAnyAsync_ClosedPort_IsRefusedAndNamesTheEndPoint()
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, ClosedPort());
        var result = await Connector.ConnectAnyAsync([endPoint.Address], endPoint.Port, _loops.Next(), Options, CancellationToken.None);
        Assert.False(result.Succeeded);
        Assert.Equal(DialError.Refused, result.Error);
        Assert.Contains(endPoint.ToString(), result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAnyAsync_FirstAddressRefused_TriesTheNext()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;

        // Nothing listens on 127.0.0.1 at the port of the ::1 listener; ::1 answers.
        var result = await Connector.ConnectAnyAsync([IPAddress.Loopback, IPAddress.IPv6Loopback], port, _loops.Next(), Options, CancellationToken.None);
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(IPAddress.IPv6Loopback, result.Remote!.Address);
        result.Socket!.Dispose();
    }

    [Fact]
    public async Task ConnectAnyAsync_NoAddresses_FailsAsResolveFailed()
    {
        var result = await Connector.ConnectAnyAsync([], 80, _loops.Next(), Options, CancellationToken.None);
        Assert.Equal(DialError.ResolveFailed, result.Error);
    }

    [Fact]
    public async Task ConnectAnyAsync_MappedAddress_ConnectsAsIPv4()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var result = await Connector.ConnectAnyAsync([IPAddress.Loopback.MapToIPv6()], port, _loops.Next(), Options, CancellationToken.None);
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(IPAddress.Loopback, result.Remote!.Address);
        result.Socket!.Dispose();
    }

    [Fact]
    public async Task ResolveAsync_Literal_NeedsNoLookup()
    {
        var (addresses, _) = await Connector.ResolveAsync(Destination.FromAddress(IPAddress.Parse("192.0.2.7"), 80), TimeSpan.FromSeconds(1), CancellationToken.None);
        Assert.Equal([IPAddress.Parse("192.0.2.7")], addresses);
    }

    [Fact]
    public async Task ResolveAsync_NameThatDoesNotExist_FailsAsResolveFailed()
    {
        // .invalid never resolves (RFC 6761); the lookup stays local or fails fast.
        var (addresses, failure) = await Connector.ResolveAsync(Destination.FromHost("no-such-host.invalid", 80), TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Empty(addresses);
        Assert.Equal(DialError.ResolveFailed, failure.Error);
    }

    [Theory]
    [InlineData(Errno.ECONNREFUSED, DialError.Refused)]
    [InlineData(Errno.ENETUNREACH, DialError.NetworkUnreachable)]
    [InlineData(Errno.EHOSTUNREACH, DialError.HostUnreachable)]
    [InlineData(Errno.ETIMEDOUT, DialError.TimedOut)]
    [InlineData(Errno.EMFILE, DialError.ResourceExhausted)]
    [InlineData(Errno.ENFILE, DialError.ResourceExhausted)]
    [InlineData(Errno.EPERM, DialError.Denied)]
    [InlineData(Errno.EINVAL, DialError.Other)]
    public void Classify_Errno_GivesTheDialError(Errno errno, DialError expected)
        => Assert.Equal(expected, Connector.Classify(errno));
}
