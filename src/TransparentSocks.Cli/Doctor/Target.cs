using System.Globalization;
using System.Text.Json;
using TransparentSocks.Addressing;
using TransparentSocks.Cli.Client;
using TransparentSocks.Control;
using TransparentSocks.Linux.Config;
using TransparentSocks.Options;

namespace TransparentSocks.Cli.Doctor;

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
    IReadOnlyList<(string Name, Destination Endpoint, string? Username, string? Password)> Upstreams)
{
    /// <summary>
    /// The target, and the report's first line saying where it came from. Upstream credentials always come from the
    /// configuration: the daemon never hands out passwords.
    /// </summary>
    public static async Task<(Target, CheckResult)> DescribeAsync(string configPath, string socket, CancellationToken cancellationToken)
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
            var usesDefault = options.Server.Enabled && UpstreamNames.Canonical(options.Server.Outbound) == UpstreamNames.Default;
            foreach (var iface in transparent.Interfaces)
            {
                if (iface.ProxyEndpoint is { } proxy)
                {
                    upstreams.Add(($"upstream {iface.Name}", proxy, iface.Username, iface.EffectivePassword));
                }
                else if (iface.Upstream is null || UpstreamNames.Canonical(iface.Upstream) == UpstreamNames.Default)
                {
                    usesDefault = true;
                }
            }

            // Named SOCKS5 upstreams are checked whoever uses them: a group's backup matters most when nothing uses it yet.
            foreach (var named in options.Upstreams)
            {
                if (named.Protocol == UpstreamProtocol.Socks5 && named.Endpoint is { } address)
                {
                    upstreams.Add(($"upstream {named.Name}", address, named.Username, named.EffectivePassword));
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
}
