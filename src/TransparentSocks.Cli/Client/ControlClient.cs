using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;

namespace TransparentSocks.Cli.Client;

/// <summary>
/// HTTP/1.1 to transparentsocksd over its Unix control socket. Every failure comes back as a <see cref="ControlReply"/>
/// carrying the exit code, so a command is one call and one branch.
/// </summary>
internal sealed class ControlClient : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly string _socketPath;
    private readonly TimeSpan _timeout;

    public ControlClient(string socketPath, TimeSpan timeout)
    {
        _socketPath = socketPath;
        _timeout = timeout;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = (_, cancellationToken) => ConnectAsync(socketPath, cancellationToken),

            // An http_proxy in the environment must not turn a local socket call into a proxied one.
            UseProxy = false,
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = timeout };
    }

    public async Task<ControlReply> SendAsync(HttpMethod method, string pathAndQuery, byte[]? jsonBody, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(pathAndQuery, UriKind.Relative));
        if (jsonBody is not null)
        {
            request.Content = new ByteArrayContent(jsonBody);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        try
        {
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? ControlReply.Success(body) : ControlReply.FromErrorStatus(response.StatusCode, body);
        }
        catch (HttpRequestException ex) when (FindInner<ConnectFailure>(ex) is { } failure)
        {
            return failure.Reply;
        }
        catch (HttpRequestException ex)
        {
            return ControlReply.Failure(ExitCodes.DaemonError, $"the request to transparentsocksd at {_socketPath} failed: {ex.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var seconds = _timeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture);
            return ControlReply.Failure(ExitCodes.DaemonError, $"transparentsocksd did not answer within {seconds} s (control socket {_socketPath})");
        }
    }

    public void Dispose() => _http.Dispose();

    private static async ValueTask<Stream> ConnectAsync(string path, CancellationToken cancellationToken)
    {
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(path);
        }
        catch (ArgumentException)
        {
            throw new ConnectFailure(ControlReply.Failure(ExitCodes.Usage, $"'{path}' cannot be a Unix socket path (empty or longer than 107 bytes)"));
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new ConnectFailure(Classify(ex, path), ex);
        }
    }

    private static ControlReply Classify(SocketException ex, string path)
    {
        // .NET reports ENOENT as AddressNotAvailable, EACCES and EPERM as AccessDenied, and errnos it has no name for
        // (ENOTDIR: a path component is a file) as plain SocketError, without the errno; the path itself settles those.
        return ex.SocketErrorCode switch
        {
            SocketError.AddressNotAvailable or SocketError.ConnectionRefused => NotRunning(path),
            SocketError.AccessDenied => PermissionDenied(path),
            _ when !Path.Exists(path) => NotRunning(path),
            _ => ControlReply.Failure(ExitCodes.DaemonError, $"cannot connect to the control socket {path}: {ex.Message}"),
        };
    }

    private static ControlReply NotRunning(string path)
        => ControlReply.Failure(ExitCodes.NotRunning, $"transparentsocksd is not running (no control socket at {path})");

    private static ControlReply PermissionDenied(string path)
        => ControlReply.Failure(
            ExitCodes.PermissionDenied,
            $"permission denied on {path}: run as root or as a member of group 'transparentsocks'");

    private static T? FindInner<T>(Exception exception)
        where T : Exception
    {
        for (var current = exception.InnerException; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>Carries a classified connect failure out through HttpClient, which wraps whatever the callback throws.</summary>
    private sealed class ConnectFailure(ControlReply reply, Exception? inner = null)
        : Exception(reply.ErrorMessage, inner)
    {
        public ControlReply Reply { get; } = reply;
    }
}
