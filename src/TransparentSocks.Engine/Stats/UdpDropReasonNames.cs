namespace TransparentSocks.Engine.Stats;

public static class UdpDropReasonNames
{
    /// <summary>
    /// A stable, label-friendly name for metrics, the control API and logs. Spelled out rather than derived from the
    /// enum's names, so renaming a value does not rename a Prometheus series under someone's alert.
    /// </summary>
    public static string ToReason(this UdpDropReason reason) => reason switch
    {
        UdpDropReason.Malformed => "malformed",
        UdpDropReason.Fragmented => "fragmented",
        UdpDropReason.Truncated => "truncated",
        UdpDropReason.Denied => "denied",
        UdpDropReason.WrongSource => "wrong_source",
        UdpDropReason.UpstreamUnavailable => "upstream_unavailable",
        UdpDropReason.QueueFull => "queue_full",
        UdpDropReason.SendFailed => "send_failed",
        UdpDropReason.NoReplySocket => "no_reply_socket",
        UdpDropReason.Unresolvable => "unresolvable",
        _ => "other",
    };
}
