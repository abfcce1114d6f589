using System.Globalization;
using System.Net;
using System.Text;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>
/// Checks a deserialised configuration and reads its password files through the caller's reader. Every problem is
/// collected rather than the first one thrown, so an operator fixes a broken file in one pass.
/// </summary>
internal static class ConfigValidator
{
    // Each flow or association holds sockets of its own; a million is already far past any fd limit a unit sets.
    internal const int MaxUdpEntries = 1_000_000;

    private static readonly NetworkSet Loopback = new([IpNetwork.Parse("127.0.0.0/8"), IpNetwork.Parse("::1/128")]);

    public static List<string> Validate(TransparentSocksOptions options, string? baseDirectory, PasswordFileReader? readPasswordFile)
    {
        var errors = new List<string>();
        var passwordFiles = new PasswordFiles(baseDirectory, readPasswordFile);
        if (options.Server is null || options.Upstream is null || options.Transparent is null || options.Relay is null || options.Logging is null
            || options.Control is null || options.Metrics is null || options.Upstreams is null || options.Groups is null)
        {
            errors.Add("$: server, upstream, upstreams, groups, transparent, relay, logging, control and metrics must not be null");
            return errors;
        }

        ValidateServer(options.Server, passwordFiles, errors);
        ValidateUpstream(options.Upstream, options.Server, passwordFiles, errors);
        var names = ValidateNamedUpstreams(options, passwordFiles, errors);
        ValidateGroups(options, names, errors);
        ValidateReferences(options, names, errors);
        ValidateTransparent(options.Transparent, options.Upstream, passwordFiles, errors);
        ValidateRelay(options.Relay, errors);
        ValidateControl(options.Control, errors);
        ValidateMetrics(options.Metrics, errors);

        if (!Enum.IsDefined(options.Logging.Level))
        {
            errors.Add($"logging.level: {options.Logging.Level} is not a level");
        }

        return errors;
    }

    private static void ValidateControl(ControlOptions control, List<string> errors)
    {
        if (string.IsNullOrEmpty(control.Socket) || !control.Socket.StartsWith('/'))
        {
            errors.Add("control.socket: must be an absolute path");
        }
        else if (System.Text.Encoding.UTF8.GetByteCount(control.Socket) > 107)
        {
            errors.Add("control.socket: longer than a Unix socket path may be (107 bytes)");
        }

        if (string.IsNullOrEmpty(control.Group) || control.Group.Length > 32 || control.Group.Any(c => char.IsWhiteSpace(c) || c is ':' or '/'))
        {
            errors.Add("control.group: must be a group name");
        }
    }

    private static void ValidateMetrics(MetricsOptions metrics, List<string> errors)
    {
        if (!ServerOptions.TryParseListen(metrics.Listen, out _, out var error))
        {
            errors.Add($"metrics.listen: {error}");
        }
    }

    private static void ValidateServer(ServerOptions server, PasswordFiles passwordFiles, List<string> errors)
    {
        var listenValid = ServerOptions.TryParseListen(server.Listen, out var listen, out var listenError);
        if (!listenValid)
        {
            errors.Add($"server.listen: {listenError}");
        }

        var users = server.Users ?? [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, user) in Entries(users, "server.users", "a username and a password", errors))
        {
            if (!IsByteLengthValid(user.Username))
            {
                errors.Add($"{path}.username: must be 1-255 bytes");
            }
            else if (!seen.Add(user.Username!))
            {
                errors.Add($"{path}.username: duplicate user '{user.Username}'");
            }

            user.PasswordFromFile = ValidateSecret(path, user.Password, user.PasswordFile, required: true, passwordFiles, errors);
        }

        if (server.Enabled && users.Count == 0 && listenValid && !Loopback.Contains(listen!.Address) && !server.AllowNoAuthOnPublicAddress)
        {
            errors.Add($"server.allowNoAuthOnPublicAddress: listening on {listen} without authentication requires \"allowNoAuthOnPublicAddress\": true");
        }

        ValidateNetworks("server.allowedClients", server.AllowedClients, errors);
        ValidateNetworks("server.denyDestinations", server.DenyDestinations, errors);
        ValidateSeconds("server.handshakeTimeout", server.HandshakeTimeoutSeconds, errors);
        ValidateSeconds("server.idleTimeout", server.IdleTimeoutSeconds, errors);
        ValidateAtLeastOne("server.maxHandshakes", server.MaxHandshakes, errors);
        ValidateAtLeastOne("server.maxHandshakesPerClient", server.MaxHandshakesPerClient, errors);
        ValidateAtLeastOne("server.maxConnections", server.MaxConnections, errors);
        ValidateSeconds("server.udpTimeout", server.UdpTimeoutSeconds, errors, Durations.MaxUdpSeconds);
        ValidateRange("server.maxUdpAssociations", server.MaxUdpAssociations, 1, MaxUdpEntries, errors);
        if (server.Outbound is null)
        {
            errors.Add("server.outbound: must be \"direct\" or the name of an upstream or a group");
        }
    }

    private static void ValidateUpstream(UpstreamOptions upstream, ServerOptions server, PasswordFiles passwordFiles, List<string> errors)
    {
        if (upstream.Address is null)
        {
            if (server.Outbound is { } outbound && UpstreamNames.Canonical(outbound) == UpstreamNames.Default)
            {
                errors.Add($"upstream.address: required because server.outbound is \"{outbound}\"");
            }
        }

        if (upstream.Name is not null && upstream.Name != UpstreamNames.Default)
        {
            errors.Add($"upstream.name: the top-level upstream is always \"{UpstreamNames.Default}\"; put named upstreams in \"upstreams\"");
        }

        ValidateProxy("upstream", upstream, required: false, passwordFiles, errors);
    }

    /// <summary>What every upstream needs, the default one and the named ones alike.</summary>
    private static void ValidateProxy(string path, UpstreamOptions upstream, bool required, PasswordFiles passwordFiles, List<string> errors)
    {
        if (upstream.Address is null)
        {
            if (required)
            {
                errors.Add($"{path}.address: required");
            }
        }
        else if (!Destination.TryParse(upstream.Address, out var destination, out var error))
        {
            errors.Add($"{path}.address: {error}");
        }
        else if (destination.Port == 0)
        {
            errors.Add($"{path}.address: '{upstream.Address}' has port 0");
        }

        if (!Enum.IsDefined(upstream.Protocol))
        {
            errors.Add($"{path}.protocol: {upstream.Protocol} is not a protocol");
        }

        upstream.PasswordFromFile = ValidateCredentials(path, upstream.Username, upstream.Password, upstream.PasswordFile, passwordFiles, errors);
        if (upstream.Protocol == UpstreamProtocol.Http)
        {
            // Basic auth joins the two with a colon, so one in the username would move the split.
            if (upstream.Username?.Contains(':', StringComparison.Ordinal) == true)
            {
                errors.Add($"{path}.username: an HTTP proxy username may not contain ':'");
            }

            if (upstream.Pooling)
            {
                errors.Add($"{path}.pooling: only SOCKS5 upstreams keep pre-authenticated connections; an HTTP CONNECT is one round trip anyway");
            }

            if (upstream.Pipelining)
            {
                errors.Add($"{path}.pipelining: only SOCKS5 upstreams have a greeting to pipeline; an HTTP CONNECT is one round trip anyway");
            }
        }

        ValidateSeconds($"{path}.connectTimeout", upstream.ConnectTimeoutSeconds, errors);
        ValidateSeconds($"{path}.handshakeTimeout", upstream.HandshakeTimeoutSeconds, errors);
        if (upstream.MaxPoolSize is < 1 or > 1024)
        {
            errors.Add($"{path}.maxPoolSize: must be between 1 and 1024");
        }
    }

    /// <summary>The named upstreams; returns every name references may use, with whether it is a group.</summary>
    private static Dictionary<string, bool> ValidateNamedUpstreams(TransparentSocksOptions options, PasswordFiles passwordFiles, List<string> errors)
    {
        var names = new Dictionary<string, bool>(StringComparer.Ordinal);
        if (options.Upstream.Address is not null)
        {
            names[UpstreamNames.Default] = false;
        }

        foreach (var (path, upstream) in Entries(options.Upstreams, "upstreams", "a name and an address", errors))
        {
            ValidateName($"{path}.name", upstream.Name, names, isGroup: false, errors);
            ValidateProxy(path, upstream, required: true, passwordFiles, errors);
            if (upstream.Mark != 0)
            {
                // nft lets the proxy's own traffic through by one mark; a second one would be diverted back to it.
                errors.Add($"{path}.mark: the mark of the proxy's own sockets is set once, in upstream.mark");
            }
        }

        return names;
    }

    private static void ValidateName(string path, string? name, Dictionary<string, bool> names, bool isGroup, List<string> errors)
    {
        if (!UpstreamNames.IsValid(name))
        {
            errors.Add($"{path}: must be 1-{UpstreamNames.MaxLength.ToString(CultureInfo.InvariantCulture)} letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        else if (UpstreamNames.IsReserved(name!))
        {
            errors.Add($"{path}: '{name}' is reserved (direct, default and upstream already mean something)");
        }
        else if (!names.TryAdd(name!, isGroup))
        {
            errors.Add($"{path}: duplicate name '{name}' (upstreams and groups share one namespace)");
        }
    }

    /// <summary>
    /// The entries of a configured list with their paths. A null entry (a JSON null in the array) is reported as what
    /// it must be and skipped, so the caller validates only entries that exist.
    /// </summary>
    private static IEnumerable<(string Path, T Item)> Entries<T>(IReadOnlyList<T?> list, string listPath, string shape, List<string> errors)
        where T : class
    {
        for (var i = 0; i < list.Count; i++)
        {
            var path = $"{listPath}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (list[i] is { } item)
            {
                yield return (path, item);
            }
            else
            {
                errors.Add($"{path}: must be an object with {shape}");
            }
        }
    }

    private static void ValidateGroups(TransparentSocksOptions options, Dictionary<string, bool> names, List<string> errors)
    {
        // Names first, so that a member may name a group listed after its own.
        var groups = options.Groups;
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i] is { } group)
            {
                ValidateName($"groups[{i.ToString(CultureInfo.InvariantCulture)}].name", group.Name, names, isGroup: true, errors);
            }
        }

        foreach (var (path, group) in Entries(groups, "groups", "a name and members", errors))
        {
            if (!Enum.IsDefined(group.Policy))
            {
                errors.Add($"{path}.policy: {group.Policy} is not a policy");
            }

            var members = group.Members ?? [];
            if (members.Count == 0)
            {
                errors.Add($"{path}.members: a group needs at least one member");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var m = 0; m < members.Count; m++)
            {
                var memberPath = $"{path}.members[{m.ToString(CultureInfo.InvariantCulture)}]";
                var member = members[m] is { } raw ? UpstreamNames.Canonical(raw) : null;
                if (member is null || !names.ContainsKey(member))
                {
                    errors.Add($"{memberPath}: '{members[m]}' is not an upstream or a group");
                }
                else if (!seen.Add(member))
                {
                    errors.Add($"{memberPath}: '{member}' is listed twice");
                }
            }

            if (group.HealthCheck is not { } health)
            {
                errors.Add($"{path}.healthCheck: must be an object");
                continue;
            }

            // Checks of every member every few milliseconds would be a flood of our own against the upstreams.
            if (Durations.Check($"{path}.healthCheck.interval", health.IntervalSeconds, 0.1, Durations.MaxUdpSeconds) is { } interval)
            {
                errors.Add(interval);
            }

            ValidateSeconds($"{path}.healthCheck.timeout", health.TimeoutSeconds, errors, Durations.MaxUdpSeconds);
            ValidateRange($"{path}.healthCheck.failures", health.Failures, 1, 100, errors);
            ValidateRange($"{path}.healthCheck.successes", health.Successes, 1, 100, errors);
            if (health.Target is not null)
            {
                if (!Destination.TryParse(health.Target, out var target, out var targetError))
                {
                    errors.Add($"{path}.healthCheck.target: {targetError}");
                }
                else if (target.Port == 0)
                {
                    errors.Add($"{path}.healthCheck.target: '{health.Target}' has port 0");
                }
            }
        }

        ReportCycles(groups, errors);
    }

    /// <summary>A group that contains itself, directly or through others, would dial forever.</summary>
    private static void ReportCycles(List<GroupOptions> groups, List<string> errors)
    {
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i]?.Name is { } name)
            {
                byName.TryAdd(name, i);
            }
        }

        // 0 unvisited, 1 on the current path, 2 done; each group is reported at most once, on the first cycle through it.
        var state = new int[groups.Count];
        var path = new List<string>();
        for (var i = 0; i < groups.Count; i++)
        {
            Visit(i);
        }

        void Visit(int index)
        {
            if (state[index] != 0 || groups[index] is null)
            {
                return;
            }

            state[index] = 1;
            path.Add(groups[index].Name ?? "?");
            foreach (var member in groups[index].Members ?? [])
            {
                if (member is null || !byName.TryGetValue(member, out var next))
                {
                    continue;
                }

                if (state[next] == 1)
                {
                    var start = path.IndexOf(member);
                    errors.Add($"groups[{index.ToString(CultureInfo.InvariantCulture)}].members: '{member}' makes a cycle: {string.Join(" -> ", path[start..])} -> {member}");
                }
                else
                {
                    Visit(next);
                }
            }

            path.RemoveAt(path.Count - 1);
            state[index] = 2;
        }
    }

    /// <summary>The server's outbound and each interface's upstream name something that exists.</summary>
    private static void ValidateReferences(TransparentSocksOptions options, Dictionary<string, bool> names, List<string> errors)
    {
        if (options.Server.Outbound is { } outbound && outbound != UpstreamNames.Direct)
        {
            var name = UpstreamNames.Canonical(outbound);
            if (name != UpstreamNames.Default && !names.ContainsKey(name))
            {
                errors.Add($"server.outbound: '{outbound}' is not \"direct\", an upstream or a group");
            }
        }

        var interfaces = options.Transparent.Interfaces ?? [];
        for (var i = 0; i < interfaces.Count; i++)
        {
            if (interfaces[i] is not { Upstream: { } upstream } iface)
            {
                continue;
            }

            var path = $"transparent.interfaces[{i.ToString(CultureInfo.InvariantCulture)}].upstream";
            if (iface.Proxy is not null)
            {
                errors.Add($"{path}: \"upstream\" and \"proxy\" are mutually exclusive");
            }
            else if (!names.ContainsKey(UpstreamNames.Canonical(upstream)))
            {
                errors.Add(upstream == UpstreamNames.Default
                    ? $"{path}: 'default' names the top-level upstream, and upstream.address is not set"
                    : $"{path}: '{upstream}' is not an upstream or a group");
            }
        }
    }

    private static void ValidateTransparent(TransparentOptions transparent, UpstreamOptions upstream, PasswordFiles passwordFiles, List<string> errors)
    {
        if (!Enum.IsDefined(transparent.Mode))
        {
            errors.Add($"transparent.mode: {transparent.Mode} is not a transparent mode");
        }

        ValidateRange("transparent.port", transparent.Port, 1, 65535, errors);
        if (transparent.Fwmark == 0)
        {
            errors.Add("transparent.fwmark: must not be 0; policy routing finds diverted packets by this mark");
        }
        else if (upstream.Mark != 0 && transparent.Fwmark == upstream.Mark)
        {
            errors.Add($"transparent.fwmark: must differ from upstream.mark ({FormatMark(upstream.Mark)}), or the proxy's own traffic would be diverted back to it");
        }
        else if (transparent.Enabled && transparent.Fwmark == upstream.EffectiveMark(transparentEnabled: true))
        {
            errors.Add($"transparent.fwmark: {FormatMark(transparent.Fwmark)} is the mark the proxy's own sockets get while upstream.mark is 0; choose another fwmark or set upstream.mark");
        }

        ValidateRange("transparent.routeTable", transparent.RouteTable, 1, int.MaxValue, errors);
        if (transparent.RouteTable is >= 253 and <= 255)
        {
            errors.Add("transparent.routeTable: 253, 254 and 255 are the kernel's default, main and local tables");
        }

        // 0 is the local-table rule, 32766 and 32767 the main and default ones; a rule after main would never be reached.
        ValidateRange("transparent.rulePriority", transparent.RulePriority, 1, 32765, errors);
        ValidateNetworks("transparent.bypass", transparent.Bypass, errors);
        ValidateSeconds("transparent.idleTimeout", transparent.IdleTimeoutSeconds, errors);
        ValidateSeconds("transparent.udpTimeout", transparent.UdpTimeoutSeconds, errors, Durations.MaxUdpSeconds);
        ValidateSeconds("transparent.udpDnsTimeout", transparent.UdpDnsTimeoutSeconds, errors, Durations.MaxUdpSeconds);
        ValidateRange("transparent.maxUdpFlows", transparent.MaxUdpFlows, 1, MaxUdpEntries, errors);
        ValidateSeconds("transparent.sniffTimeout", transparent.SniffTimeoutSeconds, errors, TransparentOptions.MaxSniffTimeoutSeconds);
        ValidatePorts("transparent.sniffSkipPorts", transparent.SniffSkipPorts, errors);
        ValidateDomains("transparent.bypassDomains", transparent.BypassDomains, errors);

        var interfaces = transparent.Interfaces ?? [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? firstWithoutProxy = null;
        foreach (var (path, item) in Entries(interfaces, "transparent.interfaces", "a name", errors))
        {
            if (ValidateInterfaceName(item.Name) is { } nameError)
            {
                errors.Add($"{path}.name: {nameError}");
            }
            else if (!seen.Add(item.Name!))
            {
                errors.Add($"{path}.name: duplicate interface '{item.Name}'");
            }

            if (item.Proxy is null)
            {
                if (item.Upstream is null)
                {
                    firstWithoutProxy ??= item.Name ?? string.Empty;
                }

                var stray = item.Username is not null ? "username" : item.Password is not null ? "password" : item.PasswordFile is not null ? "passwordFile" : null;
                if (stray is not null)
                {
                    // Without a proxy of its own the interface goes through a named upstream and its credentials.
                    errors.Add($"{path}.{stray}: only allowed together with \"proxy\"");
                }
            }
            else
            {
                if (!Destination.TryParse(item.Proxy, out var proxy, out var proxyError))
                {
                    errors.Add($"{path}.proxy: {proxyError}");
                }
                else if (proxy.Port == 0)
                {
                    errors.Add($"{path}.proxy: '{item.Proxy}' has port 0");
                }

                item.PasswordFromFile = ValidateCredentials(path, item.Username, item.Password, item.PasswordFile, passwordFiles, errors);
            }

            if (item.MaxConnections < 0)
            {
                errors.Add($"{path}.maxConnections: must be 0 (unlimited) or more");
            }
        }

        if (transparent.Enabled && upstream.Address is null && firstWithoutProxy is not null)
        {
            errors.Add($"upstream.address: required because transparent.enabled is true and interface '{firstWithoutProxy}' has no proxy or upstream");
        }
    }

    /// <summary>The kernel's rules for a device name (dev_valid_name), plus loopback; null when the name is usable.</summary>
    private static string? ValidateInterfaceName(string? name)
    {
        // IFNAMSIZ is 16 including the terminating NUL.
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) > 15)
        {
            return "must be 1-15 bytes";
        }

        if (name is "." or "..")
        {
            return $"'{name}' is not an interface name";
        }

        // ':' is refused too, as the kernel does: "eth0:1" is an address label, not a device packets arrive on.
        // Quotes and backslashes are legal in kernel names but cannot be written safely into an nft string.
        if (name.Any(c => c is '/' or ':' or '"' or '\\' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return $"'{name}' contains '/', ':', a quote, a backslash, whitespace or a control character";
        }

        if (name == "lo")
        {
            // TPROXY delivers diverted packets through the local table on lo, so diverting lo itself would loop.
            return "the loopback interface cannot be diverted";
        }

        return null;
    }

    private static string FormatMark(uint mark) => $"0x{mark.ToString("x", CultureInfo.InvariantCulture)}";

    private static void ValidateRelay(RelayOptions relay, List<string> errors)
    {
        if (!Enum.IsDefined(relay.Mode))
        {
            errors.Add($"relay.mode: {relay.Mode} is not a relay mode");
        }

        ValidateRange("relay.pipeSize", relay.PipeSize, RelayOptions.MinPipeSize, RelayOptions.MaxPipeSize, errors);
        ValidateRange("relay.bufferSize", relay.BufferSize, RelayOptions.MinBufferSize, RelayOptions.MaxBufferSize, errors);
        ValidateRange("relay.workers", relay.Workers, 0, RelayOptions.MaxWorkers, errors);
        // The one duration where 0 is documented: no drain, sessions in flight are reset at once.
        if (Durations.Check("relay.drainTimeout", relay.DrainTimeoutSeconds, 0, RelayOptions.MaxDrainTimeoutSeconds) is { } drain)
        {
            errors.Add(drain);
        }
    }

    /// <summary>
    /// Checks optional proxy credentials (both a username and a password, or neither) and returns the password read
    /// from the password file, if any.
    /// </summary>
    private static string? ValidateCredentials(string path, string? username, string? password, string? passwordFile, PasswordFiles passwordFiles, List<string> errors)
    {
        if (username is not null && !IsByteLengthValid(username))
        {
            errors.Add($"{path}.username: must be 1-255 bytes");
        }

        var fromFile = ValidateSecret(path, password, passwordFile, required: false, passwordFiles, errors);
        var hasPassword = password is not null || passwordFile is not null;
        if (username is null && hasPassword)
        {
            errors.Add($"{path}.username: required when a password is set");
        }
        else if (username is not null && !hasPassword)
        {
            errors.Add($"{path}.password: required when a username is set (or \"passwordFile\")");
        }

        return fromFile;
    }

    /// <summary>Checks a password/passwordFile pair and returns the password read from the file, if any.</summary>
    private static string? ValidateSecret(string path, string? password, string? passwordFile, bool required, PasswordFiles passwordFiles, List<string> errors)
    {
        if (password is not null && passwordFile is not null)
        {
            errors.Add($"{path}.password: \"password\" and \"passwordFile\" are mutually exclusive");
            return null;
        }

        if (password is not null)
        {
            if (!IsByteLengthValid(password))
            {
                errors.Add($"{path}.password: must be 1-255 bytes");
            }

            return null;
        }

        if (passwordFile is null)
        {
            if (required)
            {
                errors.Add($"{path}.password: required (or \"passwordFile\")");
            }

            return null;
        }

        if (passwordFile is "")
        {
            errors.Add($"{path}.passwordFile: is empty");
            return null;
        }

        var fullPath = passwordFiles.Resolve(passwordFile);
        if (passwordFiles.Read is null)
        {
            // Skipping the file would report a config as valid whose EffectivePassword is null.
            errors.Add($"{path}.passwordFile: cannot read '{fullPath}': no password file reader was supplied");
            return null;
        }

        string secret;
        try
        {
            secret = passwordFiles.Read(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{path}.passwordFile: cannot read '{fullPath}': {ex.Message}");
            return null;
        }

        // Editors and `echo` add one newline; anything else is kept, since it might be part of the password.
        if (secret.EndsWith("\r\n", StringComparison.Ordinal))
        {
            secret = secret[..^2];
        }
        else if (secret.EndsWith('\n'))
        {
            secret = secret[..^1];
        }

        if (!IsByteLengthValid(secret))
        {
            errors.Add($"{path}.passwordFile: the password in '{fullPath}' must be 1-255 bytes");
            return null;
        }

        return secret;
    }

    private static void ValidateNetworks(string path, List<string>? networks, List<string> errors)
    {
        if (networks is null)
        {
            return;
        }

        for (var i = 0; i < networks.Count; i++)
        {
            if (!IpNetwork.TryParse(networks[i], out _, out var error))
            {
                errors.Add($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]: {error}");
            }
        }
    }

    private static void ValidatePorts(string path, List<int>? ports, List<string> errors)
    {
        if (ports is null)
        {
            errors.Add($"{path}: must be a list of ports (use [] for none)");
            return;
        }

        for (var i = 0; i < ports.Count; i++)
        {
            ValidateRange($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", ports[i], 1, 65535, errors);
        }
    }

    private static void ValidateDomains(string path, List<string>? domains, List<string> errors)
    {
        if (domains is null)
        {
            errors.Add($"{path}: must be a list of domain names (use [] for none)");
            return;
        }

        for (var i = 0; i < domains.Count; i++)
        {
            if (!Sniffing.DomainSuffixSet.TryNormalize(domains[i], out _, out var error))
            {
                errors.Add($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]: {error}");
            }
        }
    }

    private static void ValidateSeconds(string path, double seconds, List<string> errors, double max = Durations.MaxSeconds)
    {
        if (Durations.Check(path, seconds, Durations.MinSeconds, max) is { } error)
        {
            errors.Add(error);
        }
    }

    private static void ValidateAtLeastOne(string path, int value, List<string> errors)
    {
        if (value < 1)
        {
            errors.Add($"{path}: must be at least 1");
        }
    }

    private static void ValidateRange(string path, int value, int min, int max, List<string> errors)
    {
        if (value < min || value > max)
        {
            errors.Add($"{path}: must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    /// <summary>Where relative password files are resolved and what reads them; both come from the caller.</summary>
    private readonly record struct PasswordFiles(string? BaseDirectory, PasswordFileReader? Read)
    {
        // GetFullPath with a base is string work; the process's current directory is asked only when there is no base.
        public string Resolve(string passwordFile) => Path.GetFullPath(passwordFile, BaseDirectory ?? Environment.CurrentDirectory);
    }

    // RFC 1929 carries user names and passwords with a one-byte length, and an empty one cannot be told from none.
    private static bool IsByteLengthValid(string? value)
        => !string.IsNullOrEmpty(value) && Encoding.UTF8.GetByteCount(value) <= 255;
}
