using System.Globalization;

namespace TransparentSocks.Options;

/// <summary>
/// The names upstreams and groups share, and who refers to them: one namespace, so an interface's <c>upstream</c>,
/// the server's <c>outbound</c> and a group's members can name either without saying which.
/// </summary>
public static class UpstreamNames
{
    /// <summary>The server's outbound that connects from this host.</summary>
    public const string Direct = "direct";

    /// <summary>The top-level <c>"upstream"</c>.</summary>
    public const string Default = "default";

    /// <summary>The server's outbound in configs from before named upstreams: the default upstream.</summary>
    public const string LegacyUpstream = "upstream";

    public const int MaxLength = 64;

    /// <summary>Letters, digits, '.', '_' and '-', starting with a letter or digit: safe in logs, metrics labels and shells.</summary>
    public static bool IsValid(string? name)
        => !string.IsNullOrEmpty(name) && name.Length <= MaxLength && char.IsAsciiLetterOrDigit(name[0])
           && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Names no upstream or group may take, since references already mean something else by them.</summary>
    public static bool IsReserved(string name) => name is Direct or Default or LegacyUpstream;

    /// <summary>What a reference means: <see cref="LegacyUpstream"/> is <see cref="Default"/>.</summary>
    public static string Canonical(string name) => name == LegacyUpstream ? Default : name;

    /// <summary>Every field of <paramref name="options"/> that names <paramref name="name"/> (an upstream or a group), for a refusal to remove it.</summary>
    public static List<string> UsersOf(TransparentSocksOptions options, string name)
    {
        var users = new List<string>();
        if (Canonical(options.Server.Outbound) == name)
        {
            users.Add("server.outbound");
        }

        for (var i = 0; i < options.Transparent.Interfaces.Count; i++)
        {
            var iface = options.Transparent.Interfaces[i];
            var uses = iface.Upstream is { } named ? Canonical(named) == name : name == Default && iface.Proxy is null;
            if (uses)
            {
                users.Add($"transparent.interfaces[{i.ToString(CultureInfo.InvariantCulture)}] ({iface.Name})");
            }
        }

        for (var i = 0; i < options.Groups.Count; i++)
        {
            if (options.Groups[i].Members.Any(m => Canonical(m) == name))
            {
                users.Add($"groups[{i.ToString(CultureInfo.InvariantCulture)}] ({options.Groups[i].Name})");
            }
        }

        return users;
    }
}
