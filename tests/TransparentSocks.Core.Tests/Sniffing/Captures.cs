namespace TransparentSocks.Core.Tests.Sniffing;

/// <summary>The ClientHellos in Data/, captured from curl and openssl (see Data/README.md), with the name each should yield.</summary>
internal static class Captures
{
    public static readonly IReadOnlyDictionary<string, string?> ExpectedNames = new Dictionary<string, string?>
    {
        ["curl-tls13-example.com.bin"] = "example.com",
        ["curl-tls12-www.example.org.bin"] = "www.example.org",
        ["openssl-tls13-sni.test.bin"] = "sni.test",
        ["openssl-tls12-Mixed.Case.Example.bin"] = "mixed.case.example",
        ["openssl-tls13-noservername.bin"] = null,
        ["openssl-default-long-name.bin"] = "a-rather-long-label-for-testing-0123456789.sub.domain.example.net",
        ["openssl-tls13-three-records-frag.test.bin"] = "frag.test",
    };

    public static TheoryData<string> Names => [.. ExpectedNames.Keys];

    public static byte[] Read(string file) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Sniffing", "Data", file));
}
