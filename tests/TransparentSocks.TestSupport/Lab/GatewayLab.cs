using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TransparentSocks.TestSupport.Lab;

/// <summary>
/// The three-namespace topology of every transparent-path test: a client routed through a gateway
/// (where the daemon runs) to a target.
/// <code>
/// client ns (veth c) &lt;-&gt; (veth gc) gateway ns (veth gt) &lt;-&gt; (veth t) target ns
/// 198.51.100.2/24        198.51.100.1/24   203.0.113.1/24        203.0.113.2/24
/// 2001:db8:1::2/64       2001:db8:1::1/64  2001:db8:2::1/64      2001:db8:2::2/64
/// default via .1 / ::1                                           default via 203.0.113.1 / 2001:db8:2::1
/// </code>
/// The gateway forwards both families with rp_filter off; it has no nft rules or policy routing,
/// which are the daemon's job. The target has <c>net.ipv6.bindv6only=1</c>, so one target may
/// listen on 0.0.0.0:80 and another on [::]:80 and each records its own family's clients.
/// Servers and client sockets in the namespaces are created in-process with
/// <see cref="NetworkNamespaceSockets.CreateInside"/>, e.g.
/// <c>lab.Target.CreateInside(() =&gt; new HashTarget(IPAddress.Any, size, seed, port: 9000))</c> and
/// <see cref="ConnectFromClientAsync"/>. Dispose processes running in the namespaces first: a live
/// process keeps its namespace (and the veths) alive after the name is deleted.
/// </summary>
public sealed class GatewayLab : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan CurlProcessTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly IPNetwork ClientNetworkV4 = IPNetwork.Parse("198.51.100.0/24");
    private static readonly IPNetwork ClientNetworkV6 = IPNetwork.Parse("2001:db8:1::/64");

    private int _disposed;

    private GatewayLab(NetworkNamespace client, NetworkNamespace gateway, NetworkNamespace target)
    {
        Client = client;
        Gateway = gateway;
        Target = target;

        // Veths are created inside our namespaces, so their names only have to be unique there; the
        // gateway's random suffix still ties them to this lab in logs and daemon configs.
        var suffix = gateway.Name[^6..];
        ClientInterface = $"tsgc{suffix}";
        TargetInterface = $"tsgt{suffix}";
        ClientSideInterface = $"tsc{suffix}";
        TargetSideInterface = $"tst{suffix}";
    }

    public NetworkNamespace Client { get; }

    public NetworkNamespace Gateway { get; }

    public NetworkNamespace Target { get; }

    /// <summary>The gateway's veth towards the client: the interface the daemon enables.</summary>
    public string ClientInterface { get; }

    /// <summary>The gateway's veth towards the target.</summary>
    public string TargetInterface { get; }

    /// <summary>The client's own veth (in <see cref="Client"/>).</summary>
    public string ClientSideInterface { get; }

    /// <summary>The target's own veth (in <see cref="Target"/>).</summary>
    public string TargetSideInterface { get; }

    public IPAddress ClientV4 { get; } = IPAddress.Parse("198.51.100.2");

    public IPAddress ClientV6 { get; } = IPAddress.Parse("2001:db8:1::2");

    public IPAddress GatewayClientSideV4 { get; } = IPAddress.Parse("198.51.100.1");

    public IPAddress GatewayClientSideV6 { get; } = IPAddress.Parse("2001:db8:1::1");

    public IPAddress GatewayTargetSideV4 { get; } = IPAddress.Parse("203.0.113.1");

    public IPAddress GatewayTargetSideV6 { get; } = IPAddress.Parse("2001:db8:2::1");

    public IPAddress TargetV4 { get; } = IPAddress.Parse("203.0.113.2");

    public IPAddress TargetV6 { get; } = IPAddress.Parse("2001:db8:2::2");

    /// <summary>
    /// Builds the topology in three namespaces named <c>{prefix}-c-*</c>, <c>{prefix}-g-*</c> and
    /// <c>{prefix}-t-*</c>, then runs <paramref name="configure"/> (extra setup such as nft rules).
    /// If any step fails, every namespace created so far is removed before the exception propagates.
    /// </summary>
    public static async Task<GatewayLab> CreateAsync(string prefix, Func<GatewayLab, Task>? configure = null)
    {
        var created = new List<NetworkNamespace>();
        try
        {
            foreach (var role in new[] { "c", "g", "t" })
            {
                created.Add(await NetworkNamespace.CreateAsync($"{prefix}-{role}"));
            }

            var lab = new GatewayLab(created[0], created[1], created[2]);
            await lab.BuildAsync();
            if (configure is not null)
            {
                await configure(lab);
            }

            return lab;
        }
        catch (Exception setupFailure)
        {
            try
            {
                await DeleteAllAsync(created);
            }
            catch (Exception cleanupFailure)
            {
                throw new AggregateException("Lab setup failed, and so did its cleanup.", setupFailure, cleanupFailure);
            }

            throw;
        }
    }

    /// <summary>
    /// Adds a secondary address on the client's veth, e.g. 198.51.100.3 for an upstream placed behind
    /// the enabled interface. It must lie in the client subnet (198.51.100.0/24 or 2001:db8:1::/64).
    /// </summary>
    public async Task AddClientAddressAsync(IPAddress address)
    {
        var (network, prefixLength) = address.AddressFamily == AddressFamily.InterNetworkV6
            ? (ClientNetworkV6, 64)
            : (ClientNetworkV4, 24);
        if (!network.Contains(address))
        {
            throw new ArgumentException($"{address} is not in the client subnet {network}.", nameof(address));
        }

        string[] arguments = ["addr", "add", $"{address}/{prefixLength}", "dev", ClientSideInterface];
        await Client.ExecOrThrowAsync("ip", address.AddressFamily == AddressFamily.InterNetworkV6 ? [.. arguments, "nodad"] : arguments);
    }

    /// <summary>
    /// Runs <c>curl -q -sS --max-time 20 EXTRA... URL</c> in the client namespace. <c>-q</c> ignores
    /// any .curlrc, and the proxy variables are stripped, so only <paramref name="extraArgs"/> can add a proxy.
    /// </summary>
    public Task<ProcessResult> CurlFromClientAsync(string url, params string[] extraArgs)
        => Client.ExecAsync(CurlProcessTimeout, "curl", ["-q", "-sS", "--max-time", "20", .. extraArgs, url]);

    /// <summary>
    /// Connects to <paramref name="destination"/> from a socket living in the client namespace, so the
    /// connection takes the client's route through the gateway; <paramref name="source"/> picks one of
    /// the client's addresses (see <see cref="AddClientAddressAsync"/>).
    /// </summary>
    public async Task<Socket> ConnectFromClientAsync(IPEndPoint destination, IPAddress? source = null)
    {
        var socket = Client.CreateTcpSocket(destination.AddressFamily);
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            using var timeout = new CancellationTokenSource(ConnectTimeout);
            await socket.ConnectAsync(destination, timeout.Token);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await DeleteAllAsync([Client, Gateway, Target]);
    }

    private async Task BuildAsync()
    {
        // DAD would leave the new IPv6 addresses tentative (unusable) for a second or more, and no
        // router advertisement should ever change what a test set up.
        string[] ipv6Quiet =
        [
            "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.accept_ra=0", "net.ipv6.conf.default.accept_ra=0",
        ];
        await SysctlAsync(Client, ipv6Quiet);
        await SysctlAsync(Target, [.. ipv6Quiet, "net.ipv6.bindv6only=1"]);

        // Set before the veths exist, so they inherit the defaults; set on them afterwards as well,
        // because the kernel uses the larger of "all" and the interface's own rp_filter.
        await SysctlAsync(Gateway,
        [
            .. ipv6Quiet,
            "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
        ]);

        // The gateway side comes up first so that the far ends get carrier as soon as they are up.
        await BatchAsync(Gateway,
        [
            $"link add {ClientInterface} type veth peer name {ClientSideInterface} netns {Client.Name}",
            $"link add {TargetInterface} type veth peer name {TargetSideInterface} netns {Target.Name}",
            $"addr add {GatewayClientSideV4}/24 dev {ClientInterface}",
            $"addr add {GatewayClientSideV6}/64 dev {ClientInterface} nodad",
            $"addr add {GatewayTargetSideV4}/24 dev {TargetInterface}",
            $"addr add {GatewayTargetSideV6}/64 dev {TargetInterface} nodad",
            $"link set {ClientInterface} up",
            $"link set {TargetInterface} up",
        ]);
        await SysctlAsync(Gateway,
        [
            $"net.ipv4.conf.{ClientInterface}.rp_filter=0", $"net.ipv4.conf.{TargetInterface}.rp_filter=0",
        ]);
        await BatchAsync(Client,
        [
            $"addr add {ClientV4}/24 dev {ClientSideInterface}",
            $"addr add {ClientV6}/64 dev {ClientSideInterface} nodad",
            $"link set {ClientSideInterface} up",
            $"route add default via {GatewayClientSideV4}",
            $"route add default via {GatewayClientSideV6}",
        ]);
        await BatchAsync(Target,
        [
            $"addr add {TargetV4}/24 dev {TargetSideInterface}",
            $"addr add {TargetV6}/64 dev {TargetSideInterface} nodad",
            $"link set {TargetSideInterface} up",
            $"route add default via {GatewayTargetSideV4}",
            $"route add default via {GatewayTargetSideV6}",
        ]);
        await WaitUntilReadyAsync();
    }

    // Carrier reaches the link state (and IPv6 addresses leave "tentative") asynchronously after
    // "link set up"; a first SYN sent before that is lost and costs a one-second retransmit.
    private async Task WaitUntilReadyAsync()
    {
        (NetworkNamespace Ns, string Interface)[] links =
        [
            (Client, ClientSideInterface), (Gateway, ClientInterface), (Gateway, TargetInterface), (Target, TargetSideInterface),
        ];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var pending = new List<string>();
            foreach (var (ns, name) in links)
            {
                var link = await ns.ExecOrThrowAsync("ip", "-o", "link", "show", "dev", name);
                var tentative = await ns.ExecOrThrowAsync("ip", "-o", "-6", "addr", "show", "dev", name, "tentative");
                if (!link.Output.Contains("state UP", StringComparison.Ordinal) || tentative.Output.Length > 0)
                {
                    pending.Add($"{ns.Name}/{name}: {link.Output.Trim()} {tentative.Output.Trim()}");
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            if (clock.Elapsed >= ReadyTimeout)
            {
                throw new TimeoutException($"Lab links not ready after {ReadyTimeout.TotalSeconds:0} s:\n{string.Join('\n', pending)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    private static Task SysctlAsync(NetworkNamespace ns, string[] settings)
        => ns.ExecOrThrowAsync("sysctl", ["-q", "-w", .. settings]);

    // One ip process per namespace instead of one per command; ip stops at the first failing line.
    private static Task BatchAsync(NetworkNamespace ns, string[] commands)
        => ExternalProcess.RunOrThrowAsync(
            "ip",
            ["-n", ns.Name, "-batch", "-"],
            CommandTimeout,
            stdin: string.Join('\n', commands) + "\n");

    private static async Task DeleteAllAsync(IEnumerable<NetworkNamespace> namespaces)
    {
        var failures = new List<Exception>();
        foreach (var ns in namespaces)
        {
            try
            {
                await ns.DisposeAsync();
            }
            catch (Exception ex)
            {
                failures.Add(ex);
            }
        }

        if (failures.Count > 0)
        {
            throw new AggregateException("Could not delete every lab namespace.", failures);
        }
    }
}
