using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

/// <param name="Destination">Where the client wants to go.</param>
/// <param name="Loop">The event loop of the inbound socket. A freshly dialed outbound socket joins it, so both sides of the session run on one thread; a pooled upstream connection keeps the loop it was opened on.</param>
/// <param name="Addresses">The destination's addresses when the route step resolved its name here and the
/// destination policy let them through; null for an address, or a name the dialer resolves (or passes on) itself.</param>
/// <param name="ClientAddress">Who asked, for a group's <c>hash</c> policy; null when it does not matter.</param>
public readonly record struct DialRequest(Destination Destination, Loop Loop, IReadOnlyList<IPAddress>? Addresses = null, IPAddress? ClientAddress = null);

public readonly struct DialResult
{
    private DialResult(LinuxSocket? socket, DialError error, Socks5ReplyCode upstreamReply, string? detail, IPEndPoint? remote)
    {
        Socket = socket;
        Error = error;
        UpstreamReply = upstreamReply;
        Detail = detail;
        Remote = remote;
    }

    /// <summary>The connected outbound socket; the caller owns it.</summary>
    public LinuxSocket? Socket { get; }

    public DialError Error { get; }

    /// <summary>The upstream's reply code when <see cref="Error"/> is <see cref="DialError.UpstreamRejected"/>.</summary>
    public Socks5ReplyCode UpstreamReply { get; }

    public string? Detail { get; }

    /// <summary>The address actually connected to (the destination, or the upstream proxy).</summary>
    public IPEndPoint? Remote { get; }

    public bool Succeeded => Socket is not null;

    public Socks5ReplyCode ReplyCode => Error.ToReplyCode(UpstreamReply);

    public static DialResult Connected(LinuxSocket socket, IPEndPoint remote) => new(socket, DialError.None, Socks5ReplyCode.Succeeded, null, remote);

    public static DialResult Fail(DialError error, string detail, Socks5ReplyCode upstreamReply = Socks5ReplyCode.GeneralFailure)
        => new(null, error, upstreamReply, detail, null);

    public override string ToString() => Succeeded ? $"connected to {Remote}" : $"{Error.ToReason()}: {Detail}";
}
