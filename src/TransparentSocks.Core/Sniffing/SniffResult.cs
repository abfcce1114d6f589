namespace TransparentSocks.Sniffing;

/// <summary>Where a sniffer stands on the bytes a client has sent so far.</summary>
public enum SniffStatus : byte
{
    /// <summary>The bytes so far are a valid prefix; receive more and sniff again over all of them.</summary>
    NeedMoreData,

    /// <summary>
    /// The protocol is recognised and its opening message is complete. <see cref="SniffResult.Name"/> holds the name
    /// when one was sent and passed <see cref="SniffedName"/>; otherwise <see cref="SniffResult.NameError"/> says why
    /// not. Either way the caller stops waiting.
    /// </summary>
    Found,

    /// <summary>The bytes can never become the opening message of a protocol the sniffer knows: use the IP.</summary>
    NotThisProtocol,
}

/// <summary>Which protocol a sniffer recognised, for per-protocol counts.</summary>
public enum SniffedProtocol : byte
{
    /// <summary>Not known yet (no bytes) or none (<see cref="SniffStatus.NotThisProtocol"/>).</summary>
    None,

    /// <summary>A TLS ClientHello; the name is its server_name (SNI).</summary>
    Tls,

    /// <summary>An HTTP/1.x request; the name is from the request target's authority or the Host header.</summary>
    Http,
}

/// <summary>
/// The outcome of <see cref="Sniffer.Sniff"/>, <see cref="TlsClientHelloSniffer.Sniff"/> or
/// <see cref="HttpHostSniffer.Sniff"/>. Nothing is consumed: a sniffer only looks, so the caller forwards every byte.
/// </summary>
public readonly struct SniffResult
{
    private SniffResult(SniffStatus status, SniffedProtocol protocol, string? name, SniffedNameError nameError, int needed, bool encryptedClientHello)
    {
        Status = status;
        Protocol = protocol;
        Name = name;
        NameError = nameError;
        Needed = needed;
        EncryptedClientHello = encryptedClientHello;
    }

    public SniffStatus Status { get; }

    /// <summary>The protocol when Found, the one the bytes so far look like when NeedMoreData, None otherwise.</summary>
    public SniffedProtocol Protocol { get; }

    /// <summary>The validated, lower-cased name without a trailing dot; null unless Found with a usable name.</summary>
    public string? Name { get; }

    /// <summary>
    /// When Found without a <see cref="Name"/>: <see cref="SniffedNameError.Missing"/> if the client sent none,
    /// otherwise why the one it sent was refused. <see cref="SniffedNameError.None"/> in every other case.
    /// </summary>
    public SniffedNameError NameError { get; }

    /// <summary>
    /// When NeedMoreData: how many more bytes are needed at the least. Receiving exactly this many never reads past
    /// the opening message, though a caller that forwards everything need not care.
    /// </summary>
    public int Needed { get; }

    /// <summary>
    /// A TLS ClientHello that carries encrypted_client_hello (0xfe0d): the <see cref="Name"/> is the outer, public
    /// name, and the name the client really wants is encrypted.
    /// </summary>
    public bool EncryptedClientHello { get; }

    public bool IsFound => Status == SniffStatus.Found;

    public bool NeedsMoreData => Status == SniffStatus.NeedMoreData;

    public bool IsNotThisProtocol => Status == SniffStatus.NotThisProtocol;

    internal static SniffResult NeedMore(SniffedProtocol protocol, int needed)
        => new(SniffStatus.NeedMoreData, protocol, null, SniffedNameError.None, Math.Max(needed, 1), false);

    internal static SniffResult NotThisProtocol => new(SniffStatus.NotThisProtocol, SniffedProtocol.None, null, SniffedNameError.None, 0, false);

    internal static SniffResult FoundWithoutName(SniffedProtocol protocol, bool encryptedClientHello = false)
        => new(SniffStatus.Found, protocol, null, SniffedNameError.Missing, 0, encryptedClientHello);

    /// <summary>Found, with <paramref name="rawName"/> validated here so that only a usable name becomes a string.</summary>
    internal static SniffResult FoundName(SniffedProtocol protocol, ReadOnlySpan<byte> rawName, bool encryptedClientHello = false)
        => SniffedName.TryNormalize(rawName, out var name, out var error)
            ? new(SniffStatus.Found, protocol, name, SniffedNameError.None, 0, encryptedClientHello)
            : new(SniffStatus.Found, protocol, null, error, 0, encryptedClientHello);

    public override string ToString() => Status switch
    {
        SniffStatus.Found => Name is null ? $"Found({Protocol}, no name: {NameError})" : $"Found({Protocol}, {Name})",
        SniffStatus.NotThisProtocol => "NotThisProtocol",
        _ => $"NeedMoreData({Protocol}, {Needed})",
    };
}
