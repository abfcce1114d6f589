using System.Collections.Frozen;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using TransparentSocks.Linux.Network;

namespace TransparentSocks.Engine.Policy;

/// <summary>
/// What "this host" means to the destination policy: every address on its interfaces, its host name, and the
/// <c>/etc/hosts</c> entries. Each is a frozen snapshot swapped whole, so a lookup on the connection path is one
/// hash probe with no lock and no allocation.
/// </summary>
/// <remarks>
/// The addresses come from getifaddrs (what <see cref="NetworkInterface"/> reads) and are re-read when the kernel
/// announces an address change on its netlink multicast group (RTM_NEWADDR/RTM_DELADDR, which
/// <see cref="NetworkChange.NetworkAddressChanged"/> listens to), so a new address is denied within milliseconds.
/// A periodic refresh backs it up: the host name and <c>/etc/hosts</c> have no kernel event, and a netlink
/// socket drops events when its buffer overflows (ENOBUFS) during an address storm.
/// </remarks>
public sealed class HostIdentity : IDisposable
{
    /// <summary>How often the snapshot is re-read without an event: the bound on staleness for names and lost events.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    private const string HostsPath = "/etc/hosts";

    // nss-myhostname answers it with the address this host would send from: always this host, whatever its name.
    private const string OutboundName = "_outbound";

    private static readonly Lazy<HostIdentity> SharedInstance = new(() => new HostIdentity(live: true));

    private readonly Lock _refreshLock = new();
    private readonly Timer? _timer;
    private Snapshot _snapshot;
    private DateTime _hostsWritten;

    private HostIdentity(bool live)
    {
        _snapshot = Snapshot.Empty;
        if (!live)
        {
            return;
        }

        Refresh();
        NetworkChange.NetworkAddressChanged += OnAddressChanged;
        _timer = new Timer(static s => ((HostIdentity)s!).Refresh(), this, RefreshInterval, RefreshInterval);
    }

    /// <summary>The process's view of its own network namespace, kept current; created on first use.</summary>
    public static HostIdentity Shared => SharedInstance.Value;

    /// <summary>A fixed identity, for policies that must not depend on the machine they run on (tests, an empty policy).</summary>
    public static HostIdentity Fixed(IEnumerable<IPAddress> addresses, IEnumerable<string> hostNames, string hostsFile = "")
    {
        var identity = new HostIdentity(live: false);
        identity._snapshot = Snapshot.Create(addresses, hostNames, ParseHosts(hostsFile));
        return identity;
    }

    /// <summary>True when <paramref name="address"/> (IPv4, or IPv6 without a zone) is on one of the host's interfaces.</summary>
    public bool IsOwnAddress(IPAddress address) => Volatile.Read(ref _snapshot).Addresses.Contains(address);

    /// <summary>True for the host's own name (and nss-myhostname's <c>_outbound</c>); case and a final dot are ignored.</summary>
    public bool IsOwnName(ReadOnlySpan<char> name) => Volatile.Read(ref _snapshot).Names.Contains(Trim(name));

    /// <summary>The addresses <c>/etc/hosts</c> gives <paramref name="name"/>, or empty when it has no entry.</summary>
    public IPAddress[] HostsEntry(ReadOnlySpan<char> name)
        => Volatile.Read(ref _snapshot).Hosts.TryGetValue(Trim(name), out var addresses) ? addresses : [];

    /// <summary>Re-reads the interfaces, the host name and (when it changed) <c>/etc/hosts</c>; never throws.</summary>
    public void Refresh()
    {
        // Events and the timer can fire together; one reader at a time keeps the last snapshot the newest.
        lock (_refreshLock)
        {
            var current = Volatile.Read(ref _snapshot);
            IReadOnlyDictionary<string, IPAddress[]> hosts = current.HostsTable;
            var written = LastWrite(HostsPath);
            var hostsChanged = written != _hostsWritten;
            if (hostsChanged)
            {
                hosts = ParseHosts(ReadHostsFile());
                _hostsWritten = written;
            }

            var addresses = ReadAddresses();
            var names = ReadHostNames();

            // The timer finds nothing new nearly every time: the snapshot (three frozen collections) is rebuilt only
            // when something changed, so an idle daemon does not make garbage every few seconds.
            if (!hostsChanged && !ReferenceEquals(current, Snapshot.Empty) && names.AsSpan().SequenceEqual(current.HostNames)
                && (addresses is null || current.Addresses.SetEquals(addresses.Select(Plain))))
            {
                return;
            }

            Volatile.Write(ref _snapshot, Snapshot.Create((IEnumerable<IPAddress>?)addresses ?? current.Addresses, names, hosts));
        }
    }

    public void Dispose()
    {
        NetworkChange.NetworkAddressChanged -= OnAddressChanged;
        _timer?.Dispose();
    }

    /// <summary>
    /// <c>/etc/hosts</c> as the resolver reads it: an address, then its names, <c>#</c> to the end of a line a comment.
    /// A name listed twice keeps every address, as getaddrinfo returns them all.
    /// </summary>
    internal static Dictionary<string, IPAddress[]> ParseHosts(string text)
    {
        var entries = new Dictionary<string, List<IPAddress>>(StringComparer.OrdinalIgnoreCase);
        foreach (var rawLine in text.Split('\n'))
        {
            var hash = rawLine.IndexOf('#', StringComparison.Ordinal);
            var line = hash >= 0 ? rawLine[..hash] : rawLine;
            var fields = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !IPAddress.TryParse(fields[0], out var address))
            {
                continue;
            }

            address = Plain(address);
            foreach (var name in fields.AsSpan(1))
            {
                var key = Trim(name).ToString();
                if (!entries.TryGetValue(key, out var list))
                {
                    entries[key] = list = [];
                }

                list.Add(address);
            }
        }

        return entries.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.OrdinalIgnoreCase);
    }

    private void OnAddressChanged(object? sender, EventArgs e) => Refresh();

    private static ReadOnlySpan<char> Trim(ReadOnlySpan<char> name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>IPv4 as IPv4, and IPv6 without its zone: how a destination's address arrives to be compared.</summary>
    private static IPAddress Plain(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? new IPAddress(address.GetAddressBytes()) : address;
    }

    // Null keeps the last snapshot's addresses: forgetting the host's addresses would open them up.
    private static List<IPAddress>? ReadAddresses() => InterfaceAddresses.Read();

    private static string[] ReadHostNames()
    {
        try
        {
            return [Dns.GetHostName()];
        }
        catch (SocketException)
        {
            return [];
        }
    }

    private static DateTime LastWrite(string path)
    {
        try
        {
            return File.GetLastWriteTimeUtc(path);
        }
        catch (IOException)
        {
            return default;
        }
        catch (UnauthorizedAccessException)
        {
            return default;
        }
    }

    private static string ReadHostsFile()
    {
        try
        {
            return File.ReadAllText(HostsPath);
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private sealed class Snapshot
    {
        private Snapshot(FrozenSet<IPAddress> addresses, string[] hostNames, FrozenSet<string> names, FrozenDictionary<string, IPAddress[]> hosts)
        {
            Addresses = addresses;
            HostNames = hostNames;
            HostsTable = hosts;
            Names = names.GetAlternateLookup<ReadOnlySpan<char>>();
            Hosts = hosts.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public static Snapshot Empty { get; } = Create([], [], new Dictionary<string, IPAddress[]>());

        public FrozenSet<IPAddress> Addresses { get; }

        public FrozenDictionary<string, IPAddress[]> HostsTable { get; }

        /// <summary>The names as read, before trimming: what the next refresh compares with.</summary>
        public string[] HostNames { get; }

        public FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> Names { get; }

        public FrozenDictionary<string, IPAddress[]>.AlternateLookup<ReadOnlySpan<char>> Hosts { get; }

        public static Snapshot Create(IEnumerable<IPAddress> addresses, IEnumerable<string> names, IReadOnlyDictionary<string, IPAddress[]> hosts)
            => new(
                addresses.Select(Plain).ToFrozenSet(),
                [.. names],
                names.Where(n => n.Length > 0).Select(n => Trim(n).ToString()).Append(OutboundName).ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                hosts.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
    }
}
