using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>One RFC 1929 account of the SOCKS5 server. Exactly one of <see cref="Password"/> and <see cref="PasswordFile"/> is set.</summary>
public sealed class UserOptions
{
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>Keeps the secret out of a config file that is often world-readable or committed; relative to the config file.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>The password to check: <see cref="Password"/>, or the contents of <see cref="PasswordFile"/> once loaded.</summary>
    [JsonIgnore]
    public string? EffectivePassword => PasswordFile is null ? Password : PasswordFromFile;

    // Not serialised, so saving a loaded config writes the file path back rather than the secret it held.
    internal string? PasswordFromFile { get; set; }

    /// <summary>The user name only: the default would be harmless today, but a later record conversion would print the password.</summary>
    public override string ToString() => Username ?? "<no username>";
}
