using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Dialing;

/// <summary>Why a dial failed. Each value maps to one SOCKS5 reply code.</summary>
public enum DialError
{
    None,

    /// <summary>The destination (after name resolution) is on the deny-list.</summary>
    Denied,

    /// <summary>The name did not resolve.</summary>
    ResolveFailed,

    /// <summary>The destination refused the connection (RST to our SYN).</summary>
    Refused,

    /// <summary>No route to the destination's network.</summary>
    NetworkUnreachable,

    /// <summary>No route to the destination host.</summary>
    HostUnreachable,

    /// <summary>The connect or the upstream handshake did not finish in time.</summary>
    TimedOut,

    /// <summary>The upstream proxy could not be reached.</summary>
    UpstreamUnavailable,

    /// <summary>The upstream proxy refused our credentials or offered no method we support.</summary>
    UpstreamAuthFailed,

    /// <summary>The upstream proxy answered the CONNECT with a failure reply code (see <see cref="DialResult.UpstreamReply"/>).</summary>
    UpstreamRejected,

    /// <summary>The upstream proxy broke the SOCKS5 protocol or closed mid-handshake.</summary>
    UpstreamProtocolError,

    /// <summary>Out of file descriptors or memory.</summary>
    ResourceExhausted,

    /// <summary>Anything else; <see cref="DialResult.Detail"/> says what.</summary>
    Other,
}

public static class DialErrorExtensions
{
    public static Socks5ReplyCode ToReplyCode(this DialError error, Socks5ReplyCode upstreamReply = Socks5ReplyCode.GeneralFailure) => error switch
    {
        DialError.None => Socks5ReplyCode.Succeeded,
        DialError.Denied => Socks5ReplyCode.NotAllowedByRuleset,
        DialError.ResolveFailed => Socks5ReplyCode.HostUnreachable,
        DialError.Refused => Socks5ReplyCode.ConnectionRefused,
        DialError.NetworkUnreachable => Socks5ReplyCode.NetworkUnreachable,
        DialError.HostUnreachable => Socks5ReplyCode.HostUnreachable,
        DialError.TimedOut => Socks5ReplyCode.TtlExpired,
        DialError.UpstreamRejected => upstreamReply,
        _ => Socks5ReplyCode.GeneralFailure,
    };

    /// <summary>A stable, label-friendly name for metrics and logs.</summary>
    public static string ToReason(this DialError error) => error switch
    {
        DialError.None => "none",
        DialError.Denied => "denied",
        DialError.ResolveFailed => "resolve_failed",
        DialError.Refused => "refused",
        DialError.NetworkUnreachable => "network_unreachable",
        DialError.HostUnreachable => "host_unreachable",
        DialError.TimedOut => "timeout",
        DialError.UpstreamUnavailable => "upstream_unavailable",
        DialError.UpstreamAuthFailed => "upstream_auth_failed",
        DialError.UpstreamRejected => "upstream_rejected",
        DialError.UpstreamProtocolError => "upstream_protocol_error",
        DialError.ResourceExhausted => "resource_exhausted",
        _ => "other",
    };
}
