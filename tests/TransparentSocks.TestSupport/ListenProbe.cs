using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Waits for a started program to listen, by reading the socket table of the program's own network
/// namespace (/proc/PID/net/tcp). Unlike a probe connection this leaves nothing in the program's
/// logs and also works when the program runs under <c>ip netns exec</c>.
/// </summary>
public static class ListenProbe
{
    private const string ListenState = "0A";

    /// <summary>True once something listens on <paramref name="endPoint"/>; false if the program exits or time runs out.</summary>
    public static async Task<bool> WaitAsync(ExternalProcess process, IPEndPoint endPoint, int attempts = 50, int intervalMilliseconds = 100)
    {
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            if (process.HasExited)
            {
                return false;
            }

            if (IsListening(process.Pid, endPoint))
            {
                return true;
            }

            await Task.Delay(intervalMilliseconds);
        }

        return false;
    }

    /// <summary>Whether a TCP socket in <paramref name="pid"/>'s network namespace listens on the endpoint (or on the wildcard address with that port).</summary>
    public static bool IsListening(int pid, IPEndPoint endPoint)
    {
        var table = endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? "tcp6" : "tcp";
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/net/{table}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        var wanted = endPoint.Address.GetAddressBytes();
        foreach (var line in lines.Skip(1))
        {
            // "  sl  local_address rem_address   st ..." with local_address = HEXADDR:HEXPORT.
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4 || fields[3] != ListenState)
            {
                continue;
            }

            var local = fields[1].Split(':');
            if (local.Length != 2 || int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) != endPoint.Port)
            {
                continue;
            }

            var address = DecodeAddress(local[0]);
            if (address.SequenceEqual(wanted) || address.All(b => b == 0))
            {
                return true;
            }
        }

        return false;
    }

    // The kernel prints each 32-bit word of the address in host (little-endian) byte order.
    private static byte[] DecodeAddress(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        for (var word = 0; word + 4 <= bytes.Length; word += 4)
        {
            Array.Reverse(bytes, word, 4);
        }

        return bytes;
    }
}
