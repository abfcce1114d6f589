using System.Net.Sockets;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.Cli.Doctor;

/// <summary>
/// Whether an upstream speaks SOCKS5 and takes our credentials, asked of the upstream itself. The doctor sees only
/// <see cref="CheckAsync"/>, so the client underneath can change without touching the checks.
/// </summary>
internal static class UpstreamProbe
{
    private static readonly TimeSpan UpstreamTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A SOCKS5 greeting, and RFC 1929 authentication when we have credentials, against the upstream itself.</summary>
    public static async Task<CheckResult> CheckAsync(string name, Destination endpoint, string? username, string? password, CancellationToken cancellationToken)
    {
        var where = endpoint.ToString();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(UpstreamTimeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.Address is not null)
            {
                await socket.ConnectAsync(endpoint.Address, endpoint.Port, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(endpoint.Host!, endpoint.Port, timeout.Token).ConfigureAwait(false);
            }

            var withCredentials = username is not null && password is not null;
            var handshake = withCredentials
                ? new Socks5ClientHandshake(Encoding.UTF8.GetBytes(username!), Encoding.UTF8.GetBytes(password!))
                : new Socks5ClientHandshake();
            var output = new byte[Socks5ClientHandshake.MaxOutputLength];
            var (step, sentCredentials) = await RunAsync(socket, handshake, output, handshake.WriteGreeting(output), timeout.Token).ConfigureAwait(false);
            if (step is null)
            {
                return new(CheckStatus.Fail, name, $"{where} closed the connection during the SOCKS5 handshake");
            }

            // The password itself is never printed, only whose it was.
            return step.Value switch
            {
                { Status: Socks5ClientStatus.Authenticated } when sentCredentials
                    => new(CheckStatus.Ok, name, $"{where} accepts the credentials of user {username}"),
                { Status: Socks5ClientStatus.Authenticated } when withCredentials
                    => new(CheckStatus.Ok, name, $"{where} speaks SOCKS5 and needs no authentication (the credentials of user {username} are not used)"),
                { Status: Socks5ClientStatus.Authenticated }
                    => new(CheckStatus.Ok, name, $"{where} speaks SOCKS5 and accepts us without authentication"),
                { Failure: Socks5ClientFailure.AuthRefused }
                    => new(CheckStatus.Fail, name, $"{where} rejects the credentials of user {username}: check the password (file)"),
                { Failure: Socks5ClientFailure.NoAcceptableMethod } when withCredentials
                    => new(CheckStatus.Fail, name, $"{where} refuses username/password authentication"),
                { Failure: Socks5ClientFailure.NoAcceptableMethod }
                    => new(CheckStatus.Fail, name, $"{where} requires authentication and none is configured (transparentsocks set endpoint {where} --username ... --password-file ...)"),
                _ => new(CheckStatus.Fail, name, $"{where} answered the greeting with something that is not SOCKS5 ({step.Value})"),
            };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(CheckStatus.Fail, name, $"{where} did not answer within {UpstreamTimeout.TotalSeconds:0} s");
        }
        catch (SocketException ex)
        {
            return new(CheckStatus.Fail, name, $"cannot reach {where}: {ex.Message}");
        }
    }

    /// <summary>
    /// Drives the handshake to its first stop (authenticated, or failed), reading exactly what it asks for. Null when
    /// the upstream closed first; the flag says whether credentials went out, so "accepted" means what it says.
    /// </summary>
    private static async Task<(Socks5ClientStep? Step, bool SentCredentials)> RunAsync(
        Socket socket, Socks5ClientHandshake handshake, byte[] output, int toSend, CancellationToken cancellationToken)
    {
        var sentCredentials = false;
        var received = new byte[Socks5ClientHandshake.MaxOutputLength];
        while (true)
        {
            await socket.SendAsync(output.AsMemory(0, toSend), cancellationToken).ConfigureAwait(false);
            var filled = 0;
            while (true)
            {
                var step = handshake.Feed(received.AsSpan(0, filled), output);
                if (step.Status == Socks5ClientStatus.Send)
                {
                    sentCredentials = true;
                    toSend = step.Count;
                    break;
                }

                if (step.Status != Socks5ClientStatus.NeedMoreData)
                {
                    return (step, sentCredentials);
                }

                if (filled + step.Count > received.Length)
                {
                    return (null, sentCredentials);
                }

                var read = await socket.ReceiveAsync(received.AsMemory(filled, step.Count), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return (null, sentCredentials);
                }

                filled += read;
            }
        }
    }
}
