using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Mono.Unix;
using Mono.Unix.Native;
using TransparentSocks.Http;

namespace TransparentSocks.Daemon.Control;

/// <summary>The caller at the other end of the control socket, from SO_PEERCRED (the kernel's word, not the client's).</summary>
internal readonly record struct Peer(int Pid, uint Uid, uint Gid)
{
    public override string ToString() => $"uid {Uid} pid {Pid}";
}

/// <summary>
/// The control socket: HTTP/1.1 with JSON over a Unix socket, one request per connection. The socket file is owned
/// by root and the control group with mode 0660, so only root and that group can connect at all; every request
/// records its caller's uid and pid for the log. Under systemd, transparentsocks.socket creates the file that way
/// and passes it in; otherwise the daemon binds it and sets owner, group and mode itself.
/// </summary>
internal sealed class ControlServer : IHostedService, IDisposable
{
    private const int MaxHeaderBytes = 16 * 1024;
    private const int MaxBodyBytes = 64 * 1024;

    private readonly ProxyService _proxy;
    private readonly ControlHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private string? _path;
    private bool _fromSystemd;

    public ControlServer(ProxyService proxy, ILoggerFactory loggerFactory)
    {
        _proxy = proxy;
        _logger = loggerFactory.CreateLogger("TransparentSocks.Control");
        _handler = new ControlHandler(proxy, _logger);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var control = _proxy.Options.Control;
        _path = control.Socket;
        if (Systemd.SocketActivation.TakeUnixListener(_path) is { } passed)
        {
            // systemd made the file (SocketUser, SocketGroup, SocketMode) and removes it; it is not ours to change.
            _fromSystemd = true;
            _listener = passed;
            _acceptLoop = AcceptLoopAsync(passed);
            Log.ControlSocketPassed(_logger, _path);
            return Task.CompletedTask;
        }

        var directory = Path.GetDirectoryName(_path)!;
        Directory.CreateDirectory(directory);

        // A socket file left by a crash would make bind fail. One that still answers belongs to a running daemon
        // and must not be stolen; anything that is not a socket is not ours to remove.
        if (IsSocket(_path))
        {
            if (Answers(_path))
            {
                throw new InvalidOperationException($"control.socket: {_path} is in use by another running transparentsocksd");
            }

            File.Delete(_path);
        }

        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(_path));
            Secure(_path, control.Group);
            listener.Listen(64);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            listener.Dispose();
            throw new InvalidOperationException($"control.socket: cannot listen on {_path}: {ex.Message}", ex);
        }

        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
        Log.ControlSocketReady(_logger, _path, Syscall.geteuid(), control.Group);
        return Task.CompletedTask;
    }

    private static bool Answers(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static bool IsSocket(string path)
        => Syscall.lstat(path, out var stat) == 0 && (stat.st_mode & FilePermissions.S_IFMT) == FilePermissions.S_IFSOCK;

    /// <summary>
    /// root:GROUP 0660 when the group exists, else owner-only 0600: never wider than intended. A daemon not running as
    /// root (without CAP_CHOWN) keeps itself as the owner, which chown allows for a group it belongs to.
    /// </summary>
    private void Secure(string path, string group)
    {
        const FilePermissions groupAccess = FilePermissions.S_IRUSR | FilePermissions.S_IWUSR | FilePermissions.S_IRGRP | FilePermissions.S_IWGRP;
        const FilePermissions ownerOnly = FilePermissions.S_IRUSR | FilePermissions.S_IWUSR;
        long gid;
        try
        {
            gid = new UnixGroupInfo(group).GroupId;
        }
        catch (ArgumentException)
        {
            Log.ControlGroupMissing(_logger, group);
            if (Syscall.chmod(path, ownerOnly) != 0)
            {
                throw new IOException($"chmod {path}: {Stdlib.GetLastError()}");
            }

            return;
        }

        // The file already belongs to us; as root that is root, and otherwise only root could give it away.
        if (Syscall.chown(path, Syscall.geteuid(), (uint)gid) != 0 || Syscall.chmod(path, groupAccess) != 0)
        {
            throw new IOException($"chown/chmod {path}: {Stdlib.GetLastError()}");
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            var peer = ReadPeer(client);
            var (request, error) = await ReadRequestAsync(client, timeout.Token).ConfigureAwait(false);
            ControlResponse response;
            if (request is null)
            {
                response = ControlResponse.Error(400, ErrorCodes.InvalidArgument, $"malformed HTTP request: {error}");
            }
            else
            {
                response = await _handler.HandleAsync(request, peer).ConfigureAwait(false);
            }

            await WriteResponseAsync(client, response, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            Log.ControlConnectionEnded(_logger, ex.Message);
        }
    }

    private static Peer ReadPeer(Socket client)
    {
        Span<byte> ucred = stackalloc byte[12];
        const int solSocket = 1;
        const int soPeerCred = 17;
        return client.GetRawSocketOption(solSocket, soPeerCred, ucred) == 12
            ? new Peer(BinaryPrimitives.ReadInt32LittleEndian(ucred), BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]), BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]))
            : new Peer(-1, uint.MaxValue, uint.MaxValue);
    }

    /// <summary>The request, or why it is not one (the 400's message); the head is read by the same strict parser as /metrics'.</summary>
    private static async Task<(ControlRequest? Request, string? Error)> ReadRequestAsync(Socket client, CancellationToken token)
    {
        var buffer = new byte[MaxHeaderBytes + MaxBodyBytes];
        var filled = 0;
        HttpRequestParse parse;
        while (true)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(filled, MaxHeaderBytes - filled), token).ConfigureAwait(false);
            if (n == 0)
            {
                return (null, "the connection closed before the end of the request head");
            }

            filled += n;
            parse = HttpRequestHeadParser.Parse(buffer.AsSpan(0, filled), MaxHeaderBytes);
            if (parse.Status == HttpRequestStatus.Done)
            {
                break;
            }

            if (parse.Status != HttpRequestStatus.NeedMoreData)
            {
                return (null, parse.Error);
            }
        }

        var head = parse.Head;
        if (head.HasTransferEncoding)
        {
            return (null, "Transfer-Encoding is not supported; send Content-Length");
        }

        if (head.ContentLength > MaxBodyBytes)
        {
            return (null, $"the body is over {MaxBodyBytes} bytes");
        }

        var bodyStart = head.HeadLength;
        var bodyLength = (int)head.ContentLength;
        while (filled - bodyStart < bodyLength)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(filled, bodyStart + bodyLength - filled), token).ConfigureAwait(false);
            if (n == 0)
            {
                return (null, "the connection closed before the end of the body");
            }

            filled += n;
        }

        var request = new ControlRequest(head.Method, Uri.UnescapeDataString(head.Path), ParseQuery(head.Query), buffer.AsMemory(bodyStart, bodyLength));
        return (request, null);
    }

    private static Dictionary<string, string> ParseQuery(string query)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            result[key] = eq < 0 ? string.Empty : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
        }

        return result;
    }

    private static async Task WriteResponseAsync(Socket client, ControlResponse response, CancellationToken token)
    {
        var head = $"HTTP/1.1 {response.Status.ToString(CultureInfo.InvariantCulture)} {HttpReasonPhrase.Of(response.Status)}\r\n"
                   + "Content-Type: application/json; charset=utf-8\r\n"
                   + $"Content-Length: {response.Body.Length.ToString(CultureInfo.InvariantCulture)}\r\n"
                   + "Connection: close\r\n\r\n";
        await client.SendAsync(Encoding.ASCII.GetBytes(head), token).ConfigureAwait(false);
        await client.SendAsync(response.Body, token).ConfigureAwait(false);
        client.Shutdown(SocketShutdown.Send);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        if (_path is not null && !_fromSystemd && File.Exists(_path))
        {
            File.Delete(_path);
        }
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _stop.Dispose();
    }
}

internal sealed record ControlRequest(string Method, string Path, IReadOnlyDictionary<string, string> Query, ReadOnlyMemory<byte> Body);

internal sealed record ControlResponse(int Status, byte[] Body)
{
    public static ControlResponse Error(int status, string code, string message, string? field = null)
        => new(status, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse(new ErrorBody(code, message, field)), ControlJsonContext.Wire.ErrorResponse));
}
