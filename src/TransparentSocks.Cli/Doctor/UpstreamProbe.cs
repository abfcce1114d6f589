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
            var buffer = new byte[1024];
            Socks5AuthMethod[] methods = withCredentials ? [Socks5AuthMethod.UsernamePassword] : [Socks5AuthMethod.NoAuthentication];
            await socket.SendAsync(buffer.AsMemory(0, Socks5Codec.WriteGreeting(buffer, methods)), timeout.Token).ConfigureAwait(false);
            var selection = await ReadAsync(socket, buffer, static b => Socks5Codec.ParseMethodSelection(b.Span), timeout.Token).ConfigureAwait(false);
            if (selection is null)
            {
                return new(CheckStatus.Fail, name, $"{where} answered the greeting with something that is not SOCKS5");
            }

            if (selection == Socks5AuthMethod.NoAcceptable)
            {
                return new(CheckStatus.Fail, name, withCredentials
                    ? $"{where} refuses username/password authentication"
                    : $"{where} requires authentication and none is configured (transparentsocks set endpoint {where} --username ... --password-file ...)");
            }

            if (!withCredentials)
            {
                return new(CheckStatus.Ok, name, $"{where} speaks SOCKS5 and accepts us without authentication");
            }

            var length = Socks5Codec.WriteUsernamePassword(buffer, Encoding.UTF8.GetBytes(username!), Encoding.UTF8.GetBytes(password!));
            await socket.SendAsync(buffer.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
            var accepted = await ReadAsync(socket, buffer, static b => Socks5Codec.ParseAuthReply(b.Span), timeout.Token).ConfigureAwait(false);

            // The password itself is never printed, only whose it was.
            return accepted == true
                ? new(CheckStatus.Ok, name, $"{where} accepts the credentials of user {username}")
                : new(CheckStatus.Fail, name, $"{where} rejects the credentials of user {username}: check the password (file)");
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

    private static async Task<T?> ReadAsync<T>(Socket socket, byte[] buffer, Func<ReadOnlyMemory<byte>, ParseResult<T>> parse, CancellationToken cancellationToken)
        where T : struct
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            filled += read;
            var result = parse(buffer.AsMemory(0, filled));
            if (result.IsDone)
            {
                return result.Value;
            }

            if (result.IsInvalid)
            {
                return null;
            }
        }

        return null;
    }
}
