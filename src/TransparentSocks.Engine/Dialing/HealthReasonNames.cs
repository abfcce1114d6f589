namespace TransparentSocks.Engine.Dialing;

public static class HealthReasonNames
{
    /// <summary>The reasons a member can fail with, as <c>show upstreams</c> and the metrics list them.</summary>
    public static IReadOnlyList<HealthReason> Failures { get; } = [.. Enum.GetValues<HealthReason>().Where(r => r != HealthReason.None)];

    /// <summary>
    /// The name in <c>show upstreams</c>, the metrics' reason label and the state-change log line. Spelled out rather
    /// than derived from the enum, so renaming a value does not rename a Prometheus series under someone's alert.
    /// </summary>
    public static string ToReason(this HealthReason reason) => reason switch
    {
        HealthReason.Refused => "refused",
        HealthReason.Timeout => "timeout",
        HealthReason.Auth => "auth",
        HealthReason.Handshake => "handshake",
        HealthReason.Target => "target",
        _ => "none",
    };
}
