using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

public static class PortAllocator
{
    // Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default) and above the well-known and
    // common service ports. A port from bind(0) lies inside the ephemeral range, where any outgoing connect() of a
    // parallel test (curl, iperf3, the load tests' thousands of sockets) may take it as its local port between our
    // check and the daemon's bind; ports from here are never handed out that way.
    private const int LowestPort = 20000;

    private static readonly Lock Gate = new();
    private static readonly HashSet<int> HandedOut = [];
    private static readonly int HighestPort = ReadEphemeralLow() - 1;

    /// <summary>
    /// A TCP port that is free on <paramref name="address"/> now, outside the ephemeral range and not handed out
    /// before in this process. Another process could still bind it first, but only by choosing the same port.
    /// </summary>
    public static int GetFreeTcpPort(IPAddress address)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(LowestPort, HighestPort + 1);
            lock (Gate)
            {
                if (HandedOut.Contains(port) || !IsFree(address, port))
                {
                    continue;
                }

                HandedOut.Add(port);
                return port;
            }
        }

        throw new InvalidOperationException($"no free TCP port on {address} between {LowestPort} and {HighestPort}");
    }

    /// <summary>
    /// A port for a server that will listen on <paramref name="address"/> inside <paramref name="networkNamespace"/>
    /// (or here, when null). A namespace is the test's own and fresh, and its addresses (the lab's 198.51.100.1)
    /// do not exist here to test a bind on, so there the port is checked on loopback, only to keep it unique.
    /// </summary>
    public static int GetFreeTcpPort(IPAddress address, string? networkNamespace)
        => networkNamespace is null
            ? GetFreeTcpPort(address)
            : GetFreeTcpPort(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback);

    private static bool IsFree(IPAddress address, int port)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int ReadEphemeralLow()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            var low = int.Parse(range[0], CultureInfo.InvariantCulture);
            return low > LowestPort + 1000 ? low : 32768;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }
}
