namespace TransparentSocks.Socks;

/// <summary>
/// Where the username and password sit in the span given to <see cref="Socks5Codec.ParseUsernamePassword"/>.
/// Ranges rather than copies so that parsing does not allocate and secrets are not left in strings;
/// slice the same span with them (<c>input[credentials.Username]</c>) and compare the bytes in constant time.
/// </summary>
public readonly record struct Socks5Credentials(Range Username, Range Password)
{
    public ReadOnlySpan<byte> GetUsername(ReadOnlySpan<byte> input) => input[Username];

    public ReadOnlySpan<byte> GetPassword(ReadOnlySpan<byte> input) => input[Password];
}
