using System.Net.Sockets;

namespace TransparentSocks.Engine.Dialing;

/// <summary>Resolves names through the system resolver (getaddrinfo, so /etc/hosts and nsswitch apply).</summary>
public static class HostResolver
{
    public static async ValueTask<(IPAddress[] Addresses, string? Error)> ResolveAsync(string host, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, cts.Token).ConfigureAwait(false);
            return addresses.Length == 0 ? ([], $"{host} has no addresses") : (addresses, null);
        }
        catch (SocketException ex)
        {
            return ([], $"{host}: {ex.SocketErrorCode}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ([], $"{host}: resolution timed out");
        }
        catch (ArgumentException ex)
        {
            return ([], $"{host}: {ex.Message}");
        }
    }
}
