using System.Security.Cryptography;
using System.Text;

namespace TransparentSocks.Engine.Inbound;

/// <summary>
/// Username/password accounts of the SOCKS5 server. Passwords are kept as SHA-256 digests and compared with
/// <see cref="CryptographicOperations.FixedTimeEquals"/> on equal-length digests, so neither the content nor the
/// length of a stored password leaks through timing; an unknown user costs the same hash and compare.
/// </summary>
public sealed class UserTable
{
    private static readonly byte[] Decoy = SHA256.HashData("decoy"u8);
    private readonly Dictionary<string, byte[]> _digests = new(StringComparer.Ordinal);

    public UserTable(IEnumerable<KeyValuePair<string, string>> users)
    {
        foreach (var (name, password) in users)
        {
            _digests[name] = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        }
    }

    public int Count => _digests.Count;

    public bool IsEmpty => _digests.Count == 0;

    public bool Verify(ReadOnlySpan<byte> username, ReadOnlySpan<byte> password, out string user)
    {
        user = Encoding.UTF8.GetString(username);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(password, digest);
        var known = _digests.TryGetValue(user, out var expected);
        var match = CryptographicOperations.FixedTimeEquals(digest, expected ?? Decoy);
        return known & match;
    }
}
