using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

public static class PortAllocator
{
    /// <summary>
    /// A TCP port the kernel just handed out on <paramref name="address"/> and that is free again.
    /// Another process can take it before the caller binds it, so callers starting programs retry.
    /// </summary>
    public static int GetFreeTcpPort(IPAddress address)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
