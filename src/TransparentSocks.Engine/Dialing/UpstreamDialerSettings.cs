namespace TransparentSocks.Engine.Dialing;

/// <summary>
/// What every upstream proxy's dialer is configured with, whatever protocol it speaks: the same connector
/// (<see cref="Connector.ConnectToUpstreamAsync"/>) runs under each, so where the proxy is, how long to wait and how
/// to mark are one set of settings. A subtype adds what its protocol needs.
/// </summary>
public abstract record UpstreamDialerSettings
{
    /// <summary>The upstream proxy (a SOCKS5 server such as sing-box or danted, an HTTP proxy such as squid).</summary>
    public required Destination Server { get; init; }

    /// <summary>With a username, the protocol's own authentication is used (RFC 1929, Basic Proxy-Authorization).</summary>
    public string? Username { get; init; }

    public string? Password { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>SO_MARK for upstream sockets (0 = none), so nft and policy routing can skip the proxy's own traffic.</summary>
    public uint Mark { get; init; }

    /// <summary>The connector's part of these settings.</summary>
    internal ConnectOptions Connect => new(ConnectTimeout, Mark);
}
