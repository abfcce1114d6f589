namespace TransparentSocks.Options;

/// <summary>
/// The names the config file gives enum values, for the control API and the CLI, which carry them as text: one
/// spelling everywhere, read by the same converters the config loader uses.
/// </summary>
public static class OptionNames
{
    private static readonly CamelCaseEnumConverter<UpstreamProtocol> Protocols = new();
    private static readonly KebabCaseEnumConverter<GroupPolicyKind> Policies = new();

    /// <summary>socks5, http.</summary>
    public static IReadOnlyList<string> ProtocolNames { get; } = [.. Enum.GetValues<UpstreamProtocol>().Select(Of)];

    /// <summary>failover, round-robin, least-connections, hash.</summary>
    public static IReadOnlyList<string> PolicyNames { get; } = [.. Enum.GetValues<GroupPolicyKind>().Select(Of)];

    public static string Of(UpstreamProtocol protocol) => Protocols.NameOf(protocol);

    public static string Of(GroupPolicyKind policy) => Policies.NameOf(policy);

    /// <summary>The protocol <paramref name="text"/> names, ignoring case as the config file does; null when it names none.</summary>
    public static UpstreamProtocol? ParseProtocol(string? text) => Protocols.TryParse(text);

    /// <summary>The policy <paramref name="text"/> names, ignoring case as the config file does; null when it names none.</summary>
    public static GroupPolicyKind? ParsePolicy(string? text) => Policies.TryParse(text);
}
