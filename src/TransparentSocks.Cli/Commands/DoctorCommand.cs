using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using TransparentSocks.Addressing;
using TransparentSocks.Cli.Client;
using TransparentSocks.Control;
using TransparentSocks.Linux.Config;
using TransparentSocks.Options;
using TransparentSocks.Socks;

// The doctor's checks are tested one by one against real kernels and upstreams in the packaging tests.
[assembly: InternalsVisibleTo("TransparentSocks.Packaging.Tests")]

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// <c>transparentsocks doctor</c>: checks what would stop the transparent path from working and says how to fix it,
/// one line per check. Any FAIL makes the exit code 1; warnings do not.
/// </summary>
internal static class DoctorCommand
{
    /// <summary>The open-file limit below which 100k concurrent sessions (two sockets each, plus pipes) cannot run.</summary>
    internal const long MinOpenFiles = 100_000;

    private static readonly TimeSpan UpstreamTimeout = TimeSpan.FromSeconds(5);

    // sudo and cron often leave /usr/sbin off PATH, where nft and ip live.
    private static readonly string[] ToolDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    public static Command Create(GlobalOptions globals)
    {
        var configOption = new Option<string>("--config", "-c")
        {
            Description = "Configuration file, read for the interfaces and the upstream credentials",
            DefaultValueFactory = _ => ConfigFile.DefaultPath,
        };
        var command = new Command("doctor", """
            Check what would stop the transparent path from working: nftables with tproxy, IP forwarding, rp_filter on
            the enabled interfaces, policy routing, conflicting nft tables, the open-file limit, and whether each
            upstream is reachable and accepts our credentials. Asks the running daemon when there is one, else reads
            the configuration. Exit code 0 when nothing failed, 1 otherwise. Run it as root.

            Example:
              transparentsocks doctor
            """)
        {
            configOption,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var results = await RunAsync(parse.GetValue(configOption)!, parse.GetValue(globals.Socket)!, ct).ConfigureAwait(false);
            foreach (var result in results)
            {
                output.WriteLine(result.ToString());
            }

            var failed = results.Count(r => r.Status == CheckStatus.Fail);
            output.WriteLine(failed == 0 ? "doctor: no problems found" : $"doctor: {failed} check(s) failed");
            return failed == 0 ? ExitCodes.Ok : ExitCodes.DaemonError;
        });
        return command;
    }

    internal enum CheckStatus
    {
        Ok,
        Warn,
        Fail,
        Skip,
    }

    internal sealed record CheckResult(CheckStatus Status, string Name, string Message)
    {
        public override string ToString()
        {
            var label = Status switch
            {
                CheckStatus.Ok => "ok  ",
                CheckStatus.Warn => "WARN",
                CheckStatus.Fail => "FAIL",
                _ => "skip",
            };
            return $"{label}  {Name,-16} {Message}";
        }
    }

    /// <summary>What the checks look at: the daemon's live view when it answers, else the configuration file.</summary>
    internal sealed record Target(
        bool DaemonRunning,
        bool TransparentEnabled,
        TransparentMode Mode,
        int Port,
        bool Ipv6,
        uint Fwmark,
        int RouteTable,
        IReadOnlyList<string> Interfaces,
        IReadOnlyList<(string Name, Destination Endpoint, string? Username, string? Password)> Upstreams);

    public static async Task<IReadOnlyList<CheckResult>> RunAsync(string configPath, string socket, CancellationToken cancellationToken)
    {
        var results = new List<CheckResult>();
        var (target, source) = await DescribeAsync(configPath, socket, cancellationToken).ConfigureAwait(false);
        results.Add(source);
        results.Add(await CheckNftAsync().ConfigureAwait(false));
        results.AddRange(CheckForwarding(target));
        results.AddRange(CheckInterfaces(target));
        results.Add(await CheckPolicyRoutingAsync(target).ConfigureAwait(false));
        results.Add(await CheckConflictsAsync(target).ConfigureAwait(false));
        results.Add(CheckOpenFiles());
        foreach (var upstream in target.Upstreams)
        {
            results.Add(await CheckUpstreamAsync(upstream.Name, upstream.Endpoint, upstream.Username, upstream.Password, cancellationToken).ConfigureAwait(false));
        }

        if (target.Upstreams.Count == 0)
        {
            results.Add(target.TransparentEnabled && target.Interfaces.Count > 0
                ? new(CheckStatus.Fail, "upstream", "no upstream is configured for the enabled interfaces: transparentsocks set endpoint HOST:PORT")
                : new(CheckStatus.Skip, "upstream", "no upstream configured"));
        }

        return results;
    }

    private static async Task<(Target, CheckResult)> DescribeAsync(string configPath, string socket, CancellationToken cancellationToken)
    {
        StatusResponse? status = null;
        if (File.Exists(socket))
        {
            using var client = new ControlClient(socket, TimeSpan.FromSeconds(5));
            var reply = await client.SendAsync(HttpMethod.Get, ControlApi.Status, null, cancellationToken).ConfigureAwait(false);
            if (reply.Succeeded)
            {
                try
                {
                    status = JsonSerializer.Deserialize(reply.Body!, ControlJsonContext.Default.StatusResponse);
                }
                catch (JsonException)
                {
                }
            }
        }

        var config = ConfigFile.Load(configPath);
        var options = config.IsValid ? config.Options : null;
        var transparent = options?.Transparent ?? new TransparentOptions();
        var upstreams = new List<(string, Destination, string?, string?)>();
        if (options is not null)
        {
            var usesDefault = options.Server.Enabled && options.Server.Outbound == OutboundKind.Upstream;
            foreach (var iface in transparent.Interfaces)
            {
                if (iface.ProxyEndpoint is { } proxy)
                {
                    upstreams.Add(($"upstream {iface.Name}", proxy, iface.Username, iface.EffectivePassword));
                }
                else
                {
                    usesDefault = true;
                }
            }

            if (options.Upstream.Endpoint is { } endpoint && (usesDefault || transparent.Interfaces.Count == 0))
            {
                upstreams.Insert(0, ("upstream", endpoint, options.Upstream.Username, options.Upstream.EffectivePassword));
            }
        }

        if (status is not null)
        {
            var live = status.Transparent;
            var mode = string.Equals(live.Mode, "redirect", StringComparison.OrdinalIgnoreCase) ? TransparentMode.Redirect : TransparentMode.Tproxy;
            var fwmark = TryParseMark(live.Fwmark, out var mark) ? mark : transparent.Fwmark;
            var target = new Target(true, live.Enabled, mode, live.Port, live.Ipv6, fwmark, live.RouteTable, status.Interfaces.Select(i => i.Name).ToList(), upstreams);
            var note = options is null ? $"; {configPath} unreadable, so upstream credentials are not checked" : "";
            return (target, new(options is null ? CheckStatus.Warn : CheckStatus.Ok, "daemon", $"transparentsocksd {status.Version} is running, up {status.UptimeSeconds} s{note}"));
        }

        if (options is null)
        {
            var why = config.Errors.Count > 0 ? config.Errors[0] : "unreadable";
            return (new Target(false, false, TransparentMode.Tproxy, 0, false, 0, 0, [], []),
                new(CheckStatus.Fail, "config", $"the daemon does not answer on {socket} and {why}"));
        }

        var fromConfig = new Target(false, transparent.Enabled, transparent.Mode, transparent.Port, transparent.IPv6, transparent.Fwmark, transparent.RouteTable,
            transparent.Interfaces.Select(i => i.Name!).ToList(), upstreams);
        return (fromConfig, new(CheckStatus.Warn, "daemon", $"transparentsocksd does not answer on {socket}: checking {configPath} instead (systemctl status transparentsocks)"));
    }

    private static bool TryParseMark(string text, out uint mark)
        => text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out mark)
            : uint.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out mark);

    /// <summary>A throwaway table with one tproxy rule, checked by nft without being committed (<c>nft -c</c>).</summary>
    internal static async Task<CheckResult> CheckNftAsync()
    {
        const string probe = """
            table inet transparentsocks_doctor {
              chain probe {
                type filter hook prerouting priority mangle; policy accept;
                meta l4proto tcp tproxy ip to 127.0.0.1:1 meta mark set 0x1 accept
                meta l4proto tcp tproxy ip6 to [::1]:1 meta mark set 0x1 accept
              }
            }
            """;
        var result = await RunToolAsync("nft", ["-c", "-f", "-"], probe).ConfigureAwait(false);
        return result switch
        {
            null => new(CheckStatus.Fail, "nft-tproxy", "nft is not installed: apt install nftables"),
            { Exit: 0 } => new(CheckStatus.Ok, "nft-tproxy", "nftables accepts tproxy rules for IPv4 and IPv6"),
            { Text: var text } when text.Contains("Operation not permitted", StringComparison.Ordinal)
                => new(CheckStatus.Fail, "nft-tproxy", "nft needs CAP_NET_ADMIN: run the doctor as root"),
            { Text: var text } => new(CheckStatus.Fail, "nft-tproxy", $"nft refuses a tproxy rule (kernel without nft_tproxy? modprobe nft_tproxy): {FirstLine(text)}"),
        };
    }

    internal static IEnumerable<CheckResult> CheckForwarding(Target target)
    {
        // Forwarding off only matters once something is to be diverted; before that it is a warning.
        var severity = target.TransparentEnabled && target.Interfaces.Count > 0 ? CheckStatus.Fail : CheckStatus.Warn;
        yield return ReadSysctl("net/ipv4/ip_forward") switch
        {
            "1" => new(CheckStatus.Ok, "ip-forward", "net.ipv4.ip_forward is 1"),
            null => new(CheckStatus.Warn, "ip-forward", "cannot read /proc/sys/net/ipv4/ip_forward"),
            _ => new(severity, "ip-forward", "net.ipv4.ip_forward is 0: this box does not forward IPv4, so there is nothing to divert (sysctl -w net.ipv4.ip_forward=1)"),
        };
        if (target.Ipv6)
        {
            yield return ReadSysctl("net/ipv6/conf/all/forwarding") switch
            {
                "1" => new(CheckStatus.Ok, "ipv6-forward", "net.ipv6.conf.all.forwarding is 1"),
                null => new(CheckStatus.Skip, "ipv6-forward", "IPv6 is not available"),
                _ => new(CheckStatus.Warn, "ipv6-forward", "net.ipv6.conf.all.forwarding is 0: IPv6 from clients is not forwarded (sysctl -w net.ipv6.conf.all.forwarding=1)"),
            };
        }
    }

    internal static IEnumerable<CheckResult> CheckInterfaces(Target target)
    {
        if (target.Interfaces.Count == 0)
        {
            yield return new(CheckStatus.Skip, "interfaces", "no interface is enabled: transparentsocks enable IFACE");
            yield break;
        }

        var all = ReadSysctl("net/ipv4/conf/all/rp_filter");
        foreach (var name in target.Interfaces)
        {
            if (!Directory.Exists($"/sys/class/net/{name}"))
            {
                yield return new(CheckStatus.Fail, $"iface {name}", $"{name} does not exist on this host (ip link show)");
                continue;
            }

            // The kernel applies the stricter of "all" and the interface's own value.
            var own = ReadSysctl($"net/ipv4/conf/{name}/rp_filter");
            yield return all == "1" || own == "1"
                ? new(CheckStatus.Warn, $"rp_filter {name}", $"rp_filter is strict (1) on {name}: asymmetric routes through it are dropped; loose mode is safer for a gateway (sysctl -w net.ipv4.conf.{name}.rp_filter=2 net.ipv4.conf.all.rp_filter=2)")
                : new(CheckStatus.Ok, $"rp_filter {name}", $"rp_filter on {name} is {own ?? "?"} (all {all ?? "?"}): not strict");
        }
    }

    internal static async Task<CheckResult> CheckPolicyRoutingAsync(Target target)
    {
        const string name = "policy-routing";
        if (target.Mode != TransparentMode.Tproxy)
        {
            return new(CheckStatus.Skip, name, "redirect mode needs no policy routing");
        }

        var mark = $"0x{target.Fwmark.ToString("x", CultureInfo.InvariantCulture)}";
        var table = target.RouteTable.ToString(CultureInfo.InvariantCulture);
        var missing = new List<string>();
        var present = new List<string>();
        foreach (var family in target.Ipv6 ? new[] { "-4", "-6" } : ["-4"])
        {
            var rules = await RunToolAsync("ip", [family, "rule", "show"]).ConfigureAwait(false);
            if (rules is null)
            {
                return new(CheckStatus.Fail, name, "ip is not installed: apt install iproute2");
            }

            var routes = await RunToolAsync("ip", [family, "route", "show", "table", table]).ConfigureAwait(false);
            var hasRule = rules.Text.Contains($"fwmark {mark} lookup {table}", StringComparison.Ordinal);
            var hasRoute = routes is { Exit: 0 } && routes.Text.Split('\n').Any(l => l.StartsWith("local default", StringComparison.Ordinal) || l.StartsWith("local 0.0.0.0/0", StringComparison.Ordinal) || l.StartsWith("local ::/0", StringComparison.Ordinal));
            (hasRule ? present : missing).Add($"ip {family} rule fwmark {mark} lookup {table}");
            (hasRoute ? present : missing).Add($"ip {family} route local default dev lo table {table}");
        }

        var divertsNow = target.DaemonRunning && target.TransparentEnabled && target.Interfaces.Count > 0;
        if (divertsNow)
        {
            return missing.Count == 0
                ? new(CheckStatus.Ok, name, $"fwmark {mark} → table {table} → local, for {(target.Ipv6 ? "IPv4 and IPv6" : "IPv4")}")
                : new(CheckStatus.Fail, name, $"the daemon diverts but these are missing, so diverted packets are forwarded instead of delivered: {string.Join("; ", missing)} (transparentsocks reload puts them back)");
        }

        return present.Count == 0
            ? new(CheckStatus.Ok, name, "nothing diverts now and no rules are installed; the daemon adds them when an interface is enabled")
            : new(CheckStatus.Warn, name, $"leftovers while nothing diverts: {string.Join("; ", present)} (transparentsocksd --cleanup removes them)");
    }

    /// <summary>Other tables whose tproxy or redirect rules send to our port would steal or mix connections.</summary>
    internal static async Task<CheckResult> CheckConflictsAsync(Target target)
    {
        const string name = "nft-conflicts";
        var result = await RunToolAsync("nft", ["-j", "list", "ruleset"]).ConfigureAwait(false);
        if (result is not { Exit: 0 })
        {
            return new(CheckStatus.Skip, name, "cannot list the ruleset (run as root)");
        }

        var samePort = new SortedSet<string>(StringComparer.Ordinal);
        var other = new SortedSet<string>(StringComparer.Ordinal);
        using (var doc = JsonDocument.Parse(result.Text))
        {
            if (doc.RootElement.TryGetProperty("nftables", out var items))
            {
                foreach (var item in items.EnumerateArray())
                {
                    if (!item.TryGetProperty("rule", out var rule)
                        || !rule.TryGetProperty("table", out var tableName)
                        || !rule.TryGetProperty("family", out var family))
                    {
                        continue;
                    }

                    var table = $"{family.GetString()} {tableName.GetString()}";
                    if (table == "inet transparentsocks" || !rule.TryGetProperty("expr", out var expr))
                    {
                        continue;
                    }

                    foreach (var port in DivertPorts(expr))
                    {
                        (port == target.Port ? samePort : other).Add(table);
                    }
                }
            }
        }

        if (samePort.Count > 0)
        {
            return new(CheckStatus.Fail, name, $"{string.Join(", ", samePort)} also divert to port {target.Port}: connections would reach our listener with the wrong mark or bypass our rules (nft list table ...)");
        }

        return other.Count > 0
            ? new(CheckStatus.Warn, name, $"{string.Join(", ", other)} divert with tproxy/redirect too: traffic they catch first never reaches ours")
            : new(CheckStatus.Ok, name, "no other table diverts with tproxy or redirect");
    }

    /// <summary>The ports of every tproxy/redirect statement in a rule's expression list (0 when none is given).</summary>
    private static IEnumerable<int> DivertPorts(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var child in element.EnumerateArray())
            {
                foreach (var port in DivertPorts(child))
                {
                    yield return port;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "tproxy" or "redirect")
                {
                    yield return property.Value.ValueKind == JsonValueKind.Object
                        && property.Value.TryGetProperty("port", out var port) && port.ValueKind == JsonValueKind.Number
                        ? port.GetInt32()
                        : 0;
                }
                else
                {
                    foreach (var nested in DivertPorts(property.Value))
                    {
                        yield return nested;
                    }
                }
            }
        }
    }

    /// <summary>The daemon's own limit when it runs (systemd sets it), else this shell's, which a manual start inherits.</summary>
    internal static CheckResult CheckOpenFiles()
    {
        const string name = "open-files";
        var pid = FindDaemonPid();
        var limits = pid is null ? "/proc/self/limits" : $"/proc/{pid}/limits";
        long? soft = null;
        try
        {
            var line = File.ReadLines(limits).FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields is { Length: > 0 })
            {
                soft = fields[0] == "unlimited" ? long.MaxValue : long.Parse(fields[0], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }

        var whose = pid is null ? "this shell (a daemon started from it inherits it)" : $"transparentsocksd (pid {pid})";
        return soft switch
        {
            null => new(CheckStatus.Skip, name, $"cannot read {limits}"),
            < MinOpenFiles => new(CheckStatus.Warn, name, $"{whose} may open {soft} files: fewer than {MinOpenFiles} limits concurrent sessions (LimitNOFILE= in the unit, ulimit -n)"),
            _ => new(CheckStatus.Ok, name, $"{whose} may open {(soft == long.MaxValue ? "unlimited" : soft.Value.ToString(CultureInfo.InvariantCulture))} files"),
        };
    }

    private static int? FindDaemonPid()
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && File.Exists($"{dir}/exe")
                    && ReadComm(dir) == "transparentsock")
                {
                    return pid;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    // comm is cut to 15 bytes: "transparentsocksd" shows as "transparentsock", which the CLI itself never matches.
    private static string? ReadComm(string dir)
    {
        try
        {
            var comm = File.ReadAllText($"{dir}/comm").Trim();
            return comm == "transparentsock" && !File.ReadAllText($"{dir}/cmdline").Contains("doctor", StringComparison.Ordinal) ? comm : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A SOCKS5 greeting, and RFC 1929 authentication when we have credentials, against the upstream itself.</summary>
    internal static async Task<CheckResult> CheckUpstreamAsync(string name, Destination endpoint, string? username, string? password, CancellationToken cancellationToken)
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

    private static string? ReadSysctl(string path)
    {
        try
        {
            return File.ReadAllText($"/proc/sys/{path}").Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string FirstLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";

    internal sealed record ToolResult(int Exit, string Text);

    /// <summary>Runs a system tool without a shell; null when it is not installed.</summary>
    private static async Task<ToolResult?> RunToolAsync(string program, string[] args, string? stdin = null)
    {
        var path = ToolDirectories.Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
        if (path is null)
        {
            return null;
        }

        var info = new ProcessStartInfo(path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            return new ToolResult(-1, $"{program} did not finish within 15 s");
        }

        return new ToolResult(process.ExitCode, (await output.ConfigureAwait(false)) + (await error.ConfigureAwait(false)));
    }
}
