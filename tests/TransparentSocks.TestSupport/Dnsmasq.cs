using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace TransparentSocks.TestSupport;

/// <summary>
/// Debian's dnsmasq (2.90, from dnsmasq-base) as an authoritative-only DNS target: it answers the names it
/// is given and refuses everything else, forwarding nothing (no upstream servers, no resolv.conf, no hosts
/// file, no config file). It stays in the foreground as root, with its pid file and query log in a temp
/// directory; <see cref="Queries"/> reads back who asked what.
/// </summary>
public sealed partial class Dnsmasq : IAsyncDisposable
{
    /// <summary>The zone the default records live in; any name under it resolves.</summary>
    public const string Domain = "example.test";

    private const int StartAttempts = 3;

    private readonly DirectoryInfo _directory;

    private Dnsmasq(ExternalProcess process, IPEndPoint endPoint, DirectoryInfo directory)
    {
        Process = process;
        EndPoint = endPoint;
        _directory = directory;
    }

    /// <summary>What every name under <see cref="Domain"/> resolves to by default (A).</summary>
    public static IPAddress DefaultAddressV4 { get; } = IPAddress.Parse("203.0.113.77");

    /// <summary>What every name under <see cref="Domain"/> resolves to by default (AAAA).</summary>
    public static IPAddress DefaultAddressV6 { get; } = IPAddress.Parse("2001:db8:2::77");

    /// <summary>Where it answers, over UDP and TCP.</summary>
    public IPEndPoint EndPoint { get; }

    public ExternalProcess Process { get; }

    public string LogPath => Path.Combine(_directory.FullName, "dnsmasq.log");

    /// <summary>
    /// Starts dnsmasq on <paramref name="listen"/>, port <paramref name="port"/> (0 picks a free one, for
    /// loopback tests; 53 suits a namespace of the test's own), inside <paramref name="networkNamespace"/> when
    /// given, and waits until it listens. <paramref name="records"/> maps a domain (and every name under it) to
    /// an address, one <c>--address</c> each; by default <see cref="Domain"/> gets
    /// <see cref="DefaultAddressV4"/> and <see cref="DefaultAddressV6"/>.
    /// </summary>
    public static async Task<Dnsmasq> StartAsync(
        IPAddress listen,
        int port = 53,
        string? networkNamespace = null,
        IReadOnlyList<KeyValuePair<string, IPAddress>>? records = null)
    {
        records ??= [new(Domain, DefaultAddressV4), new(Domain, DefaultAddressV6)];
        var failures = new List<string>();
        for (var attempt = 0; attempt < StartAttempts; attempt++)
        {
            var directory = Directory.CreateTempSubdirectory("tsocks-dnsmasq-");
            var endPoint = new IPEndPoint(listen, port == 0 ? PortAllocator.GetFreeTcpPort(listen, networkNamespace) : port);
            var arguments = BuildArguments(endPoint, records, directory.FullName);
            var process = networkNamespace is null
                ? ExternalProcess.Start("dnsmasq", arguments)
                : ExternalProcess.Start("ip", ["netns", "exec", networkNamespace, "dnsmasq", .. arguments]);
            var dnsmasq = new Dnsmasq(process, endPoint, directory);

            // dnsmasq binds its UDP and TCP sockets for an address together, before it starts answering.
            if (await ListenProbe.WaitAsync(process, endPoint))
            {
                return dnsmasq;
            }

            failures.Add($"{process.Describe()}\nlog: {dnsmasq.ReadLog()}");
            await dnsmasq.DisposeAsync();
        }

        throw new InvalidOperationException(
            $"dnsmasq did not start listening on {listen}:\n{string.Join('\n', failures)}");
    }

    /// <summary>The log file as written so far.</summary>
    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return string.Empty;
        }
    }

    /// <summary>Every query logged so far: its type, name and the address it came from.</summary>
    public IReadOnlyList<DnsmasqQuery> Queries
        => [.. QueryLine().Matches(ReadLog()).Select(m => new DnsmasqQuery(
            m.Groups["type"].Value,
            m.Groups["name"].Value,
            IPAddress.Parse(m.Groups["source"].Value)))];

    /// <summary>Polls the log until a query for <paramref name="name"/> (from <paramref name="source"/>, when given) shows. False on timeout.</summary>
    public Task<bool> WaitForQueryAsync(string name, IPAddress? source, TimeSpan timeout)
        => Poll.UntilAsync(
            () => Queries.Any(q => string.Equals(q.Name, name, StringComparison.OrdinalIgnoreCase) && (source is null || q.Source.Equals(source))),
            timeout);

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Left for /tmp's own cleanup.
        }
    }

    private static List<string> BuildArguments(IPEndPoint endPoint, IReadOnlyList<KeyValuePair<string, IPAddress>> records, string directory)
    {
        List<string> arguments =
        [
            // /etc/dnsmasq.conf and /etc/dnsmasq.d belong to the machine (the dnsmasq package puts them there).
            "--conf-file=/dev/null",
            "--keep-in-foreground",
            "--user=root",
            "--group=root",
            $"--pid-file={Path.Combine(directory, "dnsmasq.pid")}",
            $"--log-facility={Path.Combine(directory, "dnsmasq.log")}",
            "--log-queries",
            // No upstream at all: what is not ours is refused, never forwarded.
            "--no-resolv",
            "--no-poll",
            "--no-hosts",
            $"--listen-address={endPoint.Address}",
            "--bind-interfaces",
            $"--port={endPoint.Port.ToString(CultureInfo.InvariantCulture)}",
        ];
        arguments.AddRange(records.Select(r => $"--address=/{r.Key}/{r.Value}"));
        return arguments;
    }

    // e.g. "query[A] name.example.test from 203.0.113.1"
    [GeneratedRegex(@"query\[(?<type>[A-Z0-9]+)\] (?<name>\S+) from (?<source>[0-9a-fA-F.:]+)")]
    private static partial Regex QueryLine();
}

/// <summary>One query dnsmasq logged.</summary>
public sealed record DnsmasqQuery(string Type, string Name, IPAddress Source);
