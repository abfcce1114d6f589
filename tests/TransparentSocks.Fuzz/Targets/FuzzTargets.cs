namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// The fuzz targets by name. One table serves afl-fuzz (through the harness program) and the replay test, so an
/// input that crashed under AFL fails the same way under <c>dotnet test</c>.
/// </summary>
public static class FuzzTargets
{
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["socks5-server"] = Socks5ServerTarget.Run,
        ["socks5-client"] = Socks5ClientTarget.Run,
        ["udp-header"] = UdpHeaderTarget.Run,
        ["http-connect"] = HttpConnectTarget.Run,
        ["http-request"] = HttpRequestTarget.Run,
        ["config"] = ConfigTarget.Run,
        ["sniff"] = SniffTarget.Run,
    };
}
