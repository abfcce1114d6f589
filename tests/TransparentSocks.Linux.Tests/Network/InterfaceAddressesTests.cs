using System.Net;
using System.Net.NetworkInformation;
using TransparentSocks.Linux.Network;

namespace TransparentSocks.Linux.Tests.Network;

[Trait("Category", "Unit")]
public sealed class InterfaceAddressesTests
{
    [Fact]
    public void Read_ThisNamespace_GivesTheAddressesNetworkInterfaceGives()
    {
        var expected = NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(nic => nic.GetIPProperties().UnicastAddresses.Select(u => u.Address))
            .ToHashSet();

        var read = InterfaceAddresses.Read();

        Assert.NotNull(read);
        Assert.Contains(IPAddress.Loopback, read);
        Assert.True(expected.SetEquals(read), $"getifaddrs: {string.Join(", ", read)}; NetworkInterface: {string.Join(", ", expected)}");
    }
}
