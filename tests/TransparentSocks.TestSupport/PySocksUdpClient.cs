using System.Globalization;
using System.Net;
using System.Text.Json;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Runs scripts/pysocks_udp.py: Debian's python3-socks (PySocks 1.7.1) doing UDP ASSOCIATE through a SOCKS5
/// server, the real-world client of the issue. What PySocks does on the wire, which a server must cope with:
/// the control connection is IPv4 only; UDP ASSOCIATE declares DST = the domain "0" with the client's UDP port
/// (with <c>remoteDns: false</c>, 0.0.0.0 instead); BND.ADDR is ignored and datagrams go to the proxy's own
/// address at BND.PORT; replies are accepted from any source.
/// </summary>
public static class PySocksUdpClient
{
    // Debian's interpreter: a python3 earlier on PATH (pyenv and the like) does not see python3-socks.
    private const string Python = "/usr/bin/python3";

    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "scripts", "pysocks_udp.py");

    /// <summary>
    /// Sends one datagram of each of <paramref name="sizes"/> to <paramref name="destination"/> through the proxy,
    /// each after the previous reply or <paramref name="replyTimeout"/>, inside <paramref name="networkNamespace"/>
    /// when given. <paramref name="destinationHost"/> sends a host name instead of the address (resolved by the
    /// proxy). A failure to associate is in <see cref="PySocksUdpResult.Error"/>, not thrown.
    /// </summary>
    public static async Task<PySocksUdpResult> RunAsync(
        IPEndPoint proxy,
        IPEndPoint destination,
        IReadOnlyList<int> sizes,
        string? user = null,
        string? password = null,
        string? networkNamespace = null,
        TimeSpan? replyTimeout = null,
        bool remoteDns = true,
        string? destinationHost = null)
    {
        if ((user is null) != (password is null))
        {
            throw new ArgumentException("Give both a user and a password, or neither.", nameof(password));
        }

        var perReply = replyTimeout ?? TimeSpan.FromSeconds(3);
        List<string> arguments =
        [
            "-I", ScriptPath,
            "--proxy-host", proxy.Address.ToString(),
            "--proxy-port", proxy.Port.ToString(CultureInfo.InvariantCulture),
            "--dest-host", destinationHost ?? destination.Address.ToString(),
            "--dest-port", destination.Port.ToString(CultureInfo.InvariantCulture),
            "--sizes", string.Join(',', sizes.Select(s => s.ToString(CultureInfo.InvariantCulture))),
            "--timeout", perReply.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture),
        ];
        if (user is not null && password is not null)
        {
            arguments.AddRange(["--user", user, "--password", password]);
        }

        if (!remoteDns)
        {
            arguments.Add("--no-rdns");
        }

        // Every reply may time out, and starting the interpreter plus the handshake takes a moment more.
        var processTimeout = (perReply * sizes.Count) + TimeSpan.FromSeconds(20);
        var result = networkNamespace is null
            ? await ExternalProcess.RunAsync(Python, arguments, processTimeout)
            : await ExternalProcess.RunAsync("ip", ["netns", "exec", networkNamespace, Python, .. arguments], processTimeout);
        return PySocksUdpResult.Parse(result);
    }
}

/// <summary>What one pysocks_udp.py run printed, parsed.</summary>
/// <param name="Local">The client's UDP socket, as PySocks bound it.</param>
/// <param name="Relay">Where PySocks sent the datagrams: the proxy's address with BND.PORT.</param>
/// <param name="Replies">One entry per datagram sent, in order: its reply or null when it timed out.</param>
/// <param name="Error">Set when the association could not be made.</param>
public sealed record PySocksUdpResult(
    IPEndPoint? Local,
    IPEndPoint? Relay,
    IReadOnlyList<PySocksUdpReply?> Replies,
    string? Error,
    ProcessResult Process)
{
    /// <summary>Whether every datagram came back whole.</summary>
    public bool AllIntact => Error is null && Replies.Count > 0 && Replies.All(r => r is { Intact: true });

    /// <summary>The program's output, for assertion messages.</summary>
    public string Describe() => $"exit {Process.ExitCode}\nstdout: {Process.Output}\nstderr: {Process.Error}";

    internal static PySocksUdpResult Parse(ProcessResult process)
    {
        IPEndPoint? local = null;
        IPEndPoint? relay = null;
        string? error = null;
        var replies = new List<PySocksUdpReply?>();
        foreach (var line in process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            switch (root.GetProperty("event").GetString())
            {
                case "associated":
                    local = ReadEndPoint(root.GetProperty("local"));
                    relay = ReadEndPoint(root.GetProperty("relay"));
                    break;
                case "reply":
                    replies.Add(new PySocksUdpReply(
                        root.GetProperty("size").GetInt32(),
                        new IPEndPoint(IPAddress.Parse(root.GetProperty("host").GetString()!), root.GetProperty("port").GetInt32()),
                        root.GetProperty("intact").GetBoolean()));
                    break;
                case "timeout":
                    replies.Add(null);
                    break;
                case "error":
                    error = root.GetProperty("message").GetString();
                    break;
                default:
                    break;
            }
        }

        if (error is null && process.ExitCode != 0)
        {
            error = $"pysocks_udp.py exited with {process.ExitCode}: {process.Error}";
        }

        return new PySocksUdpResult(local, relay, replies, error, process);
    }

    private static IPEndPoint ReadEndPoint(JsonElement pair)
        => new(IPAddress.Parse(pair[0].GetString()!), pair[1].GetInt32());
}

/// <summary>A reply PySocks received: its payload size, the source its SOCKS5 header named, and whether it matched what was sent.</summary>
public sealed record PySocksUdpReply(int Size, IPEndPoint Source, bool Intact);
