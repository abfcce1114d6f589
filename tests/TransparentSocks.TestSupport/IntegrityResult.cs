using System.Net;

namespace TransparentSocks.TestSupport;

/// <summary>
/// One side's view of a two-way integrity exchange. Through a correct proxy, each side's sent hash
/// and count equal the other side's received hash and count.
/// </summary>
public sealed record IntegrityResult(
    IPEndPoint? Peer,
    long SentBytes,
    string SentSha256,
    long ReceivedBytes,
    string ReceivedSha256);
