using System.Text.Json.Serialization;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>
/// One interface whose forwarded TCP is diverted to the proxy (<c>"transparent.interfaces"</c>). Connections from it
/// go through its own <see cref="Proxy"/> when set, otherwise through <c>"upstream"</c>.
/// </summary>
public sealed class InterfaceOptions
{
    /// <summary>The kernel interface name, e.g. <c>eth1</c>.</summary>
    public string? Name { get; set; }

    /// <summary>The name of an upstream or a group this interface goes through; null uses <see cref="Proxy"/> or the default.</summary>
    public string? Upstream { get; set; }

    /// <summary><c>HOST:PORT</c> of a SOCKS5 server for this interface only; null uses <see cref="Upstream"/> or <c>"upstream"</c>.</summary>
    public string? Proxy { get; set; }

    /// <summary>Credentials for <see cref="Proxy"/>; allowed only together with it.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>Relative to the config file.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>Concurrent diverted connections from this interface; 0 means unlimited.</summary>
    public int MaxConnections { get; set; }

    /// <summary><see cref="Proxy"/> parsed, or null when none is configured; throws <see cref="FormatException"/> if it does not validate.</summary>
    [JsonIgnore]
    public Destination? ProxyEndpoint => Proxy is null ? null : Destination.Parse(Proxy);

    /// <summary>The password to send: <see cref="Password"/>, or the contents of <see cref="PasswordFile"/> once loaded.</summary>
    [JsonIgnore]
    public string? EffectivePassword => PasswordFile is null ? Password : PasswordFromFile;

    // Not serialised, so saving a loaded config writes the file path back rather than the secret it held.
    internal string? PasswordFromFile { get; set; }

    /// <summary>The name only, so that logging an interface can never print its password.</summary>
    public override string ToString() => Name ?? "<no name>";
}
