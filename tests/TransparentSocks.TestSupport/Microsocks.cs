using System.Net;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A real microsocks SOCKS5 server. microsocks 1.0.3 (Debian 12) has no quiet flag and logs each
/// successful CONNECT to stderr as <c>client[FD] CLIENT-IP: connected to HOST:PORT</c>.
/// </summary>
public sealed class Microsocks : IAsyncDisposable
{
    private const int StartAttempts = 3;

    private Microsocks(ExternalProcess process, IPEndPoint endPoint, string? user, string? password)
    {
        Process = process;
        EndPoint = endPoint;
        User = user;
        Password = password;
    }

    public IPEndPoint EndPoint { get; }

    public string? User { get; }

    public string? Password { get; }

    public ExternalProcess Process { get; }

    /// <summary>Everything microsocks printed so far (its connection log is on stderr).</summary>
    public string Log => Process.Error + Process.Output;

    /// <summary>
    /// Starts microsocks on a free port of <paramref name="listen"/> and waits until it listens.
    /// With <paramref name="user"/> and <paramref name="pass"/> it requires username/password auth.
    /// With <paramref name="networkNamespace"/> it runs under <c>ip netns exec</c>. With <paramref name="bind"/>
    /// (<c>-b</c>) it dials targets from that address, so a target can tell several microsocks apart by peer address.
    /// </summary>
    public static async Task<Microsocks> StartAsync(
        IPAddress listen,
        string? user = null,
        string? pass = null,
        string? networkNamespace = null,
        int port = 0,
        IPAddress? bind = null)
    {
        if ((user is null) != (pass is null))
        {
            throw new ArgumentException("Give both a user and a password, or neither.", nameof(pass));
        }

        var failures = new List<string>();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            // Another test may grab the port between allocation and bind; a fresh port usually fixes that.
            // A given port (an upstream brought back where it was) is tried as it is.
            var endPoint = new IPEndPoint(listen, port != 0 ? port : PortAllocator.GetFreeTcpPort(listen));
            var arguments = new List<string>
            {
                "-i", listen.ToString(),
                "-p", endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (user is not null && pass is not null)
            {
                arguments.AddRange(["-u", user, "-P", pass]);
            }

            if (bind is not null)
            {
                arguments.AddRange(["-b", bind.ToString()]);
            }

            var process = networkNamespace is null
                ? ExternalProcess.Start("microsocks", arguments)
                : ExternalProcess.Start("ip", ["netns", "exec", networkNamespace, "microsocks", .. arguments]);
            if (await ListenProbe.WaitAsync(process, endPoint))
            {
                return new Microsocks(process, endPoint, user, pass);
            }

            failures.Add(process.Describe());
            await process.DisposeAsync();
        }

        throw new InvalidOperationException(
            $"microsocks did not start listening on {listen}:\n{string.Join('\n', failures)}");
    }

    /// <summary>Polls the log until <paramref name="text"/> appears, e.g. <c>connected to 127.0.0.1:8080</c>.</summary>
    public Task<bool> WaitForLogAsync(string text, TimeSpan timeout) => Process.WaitForTextAsync(text, timeout);

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
