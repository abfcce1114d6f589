using System.Text.Json.Serialization;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>How a group picks the member for a new connection or UDP flow.</summary>
[JsonConverter(typeof(KebabCaseEnumConverter<GroupPolicyKind>))]
public enum GroupPolicyKind
{
    /// <summary>The first healthy member, in the order the members are listed.</summary>
    Failover,

    /// <summary>Healthy members in turn.</summary>
    RoundRobin,

    /// <summary>The healthy member with the fewest connections open and dials in progress.</summary>
    LeastConnections,

    /// <summary>By client address, so one client stays on one upstream while that upstream is healthy.</summary>
    Hash,
}

/// <summary>
/// Several upstreams (or groups) behind one name (<c>"groups"</c>), which an interface's <c>upstream</c> or the
/// server's <c>outbound</c> can name like a single upstream.
/// </summary>
public sealed class GroupOptions
{
    public string? Name { get; set; }

    public GroupPolicyKind Policy { get; set; } = GroupPolicyKind.Failover;

    /// <summary>Names of upstreams or other groups, in order (the order matters for <c>failover</c>).</summary>
    public List<string> Members { get; set; } = [];

    public HealthCheckOptions HealthCheck { get; set; } = new();

    public override string ToString() => Name ?? "<no name>";
}

/// <summary>The active checks of a group's members; real sessions' failures count towards <see cref="Failures"/> too.</summary>
public sealed class HealthCheckOptions
{
    [JsonPropertyName("interval")]
    public double IntervalSeconds { get; set; } = 5;

    /// <summary>For one check: connect, handshake and, with a target, the CONNECT to it.</summary>
    [JsonPropertyName("timeout")]
    public double TimeoutSeconds { get; set; } = 3;

    /// <summary>Consecutive failures that mark a member down.</summary>
    public int Failures { get; set; } = 2;

    /// <summary>Consecutive successful checks that bring a member back.</summary>
    public int Successes { get; set; } = 2;

    /// <summary><c>HOST:PORT</c> to CONNECT to through each member; without it a check stops after the handshake.</summary>
    public string? Target { get; set; }

    [JsonIgnore]
    public TimeSpan Interval => TimeSpan.FromSeconds(IntervalSeconds);

    [JsonIgnore]
    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);

    /// <summary><see cref="Target"/> parsed; throws <see cref="FormatException"/> if it does not validate.</summary>
    [JsonIgnore]
    public Destination? TargetEndpoint => Target is null ? null : Destination.Parse(Target);
}
