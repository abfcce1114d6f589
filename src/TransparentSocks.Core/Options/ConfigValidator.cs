using System.Globalization;
using System.Net;
using System.Text;
using TransparentSocks.Addressing;

namespace TransparentSocks.Options;

/// <summary>
/// Checks a deserialised configuration and reads its password files. Every problem is collected rather than the
/// first one thrown, so an operator fixes a broken file in one pass.
/// </summary>
internal static class ConfigValidator
{
    // Some timeout APIs take int milliseconds; capping here makes a huge value fail at startup rather than at the
    // first connection that arms the timer.
    internal const double MaxSeconds = int.MaxValue / 1000;

    private static readonly NetworkSet Loopback = new([IpNetwork.Parse("127.0.0.0/8"), IpNetwork.Parse("::1/128")]);

    public static List<string> Validate(TransparentSocksOptions options, string? baseDirectory)
    {
        var errors = new List<string>();
        var directory = baseDirectory ?? Environment.CurrentDirectory;
        if (options.Server is null || options.Upstream is null || options.Relay is null || options.Logging is null)
        {
            errors.Add("$: server, upstream, relay and logging must not be null");
            return errors;
        }

        ValidateServer(options.Server, directory, errors);
        ValidateUpstream(options.Upstream, options.Server, directory, errors);
        ValidateRelay(options.Relay, errors);
        if (!Enum.IsDefined(options.Logging.Level))
        {
            errors.Add($"logging.level: {options.Logging.Level} is not a level");
        }

        return errors;
    }

    private static void ValidateServer(ServerOptions server, string directory, List<string> errors)
    {
        var listenValid = ServerOptions.TryParseListen(server.Listen, out var listen, out var listenError);
        if (!listenValid)
        {
            errors.Add($"server.listen: {listenError}");
        }

        var users = server.Users ?? [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < users.Count; i++)
        {
            var path = $"server.users[{i.ToString(CultureInfo.InvariantCulture)}]";
            var user = users[i];
            if (user is null)
            {
                errors.Add($"{path}: must be an object with a username and a password");
                continue;
            }

            if (!IsByteLengthValid(user.Username))
            {
                errors.Add($"{path}.username: must be 1-255 bytes");
            }
            else if (!seen.Add(user.Username!))
            {
                errors.Add($"{path}.username: duplicate user '{user.Username}'");
            }

            user.PasswordFromFile = ValidateSecret(path, user.Password, user.PasswordFile, required: true, directory, errors);
        }

        if (server.Enabled && users.Count == 0 && listenValid && !Loopback.Contains(listen!.Address) && !server.AllowNoAuthOnPublicAddress)
        {
            errors.Add($"server.allowNoAuthOnPublicAddress: listening on {listen} without authentication requires \"allowNoAuthOnPublicAddress\": true");
        }

        ValidateNetworks("server.allowedClients", server.AllowedClients, errors);
        ValidateNetworks("server.denyDestinations", server.DenyDestinations, errors);
        ValidateSeconds("server.handshakeTimeout", server.HandshakeTimeoutSeconds, errors);
        ValidateSeconds("server.idleTimeout", server.IdleTimeoutSeconds, errors);
        ValidateAtLeastOne("server.maxHandshakes", server.MaxHandshakes, errors);
        ValidateAtLeastOne("server.maxConnections", server.MaxConnections, errors);
        if (!Enum.IsDefined(server.Outbound))
        {
            errors.Add($"server.outbound: {server.Outbound} is not an outbound");
        }
    }

    private static void ValidateUpstream(UpstreamOptions upstream, ServerOptions server, string directory, List<string> errors)
    {
        if (upstream.Address is null)
        {
            if (server.Outbound == OutboundKind.Upstream)
            {
                errors.Add("upstream.address: required because server.outbound is \"upstream\"");
            }
        }
        else if (!Destination.TryParse(upstream.Address, out var destination, out var error))
        {
            errors.Add($"upstream.address: {error}");
        }
        else if (destination.Port == 0)
        {
            errors.Add($"upstream.address: '{upstream.Address}' has port 0");
        }

        if (upstream.Username is not null && !IsByteLengthValid(upstream.Username))
        {
            errors.Add("upstream.username: must be 1-255 bytes");
        }

        upstream.PasswordFromFile = ValidateSecret("upstream", upstream.Password, upstream.PasswordFile, required: false, directory, errors);
        var hasPassword = upstream.Password is not null || upstream.PasswordFile is not null;
        if (upstream.Username is null && hasPassword)
        {
            errors.Add("upstream.username: required when a password is set");
        }
        else if (upstream.Username is not null && !hasPassword)
        {
            errors.Add("upstream.password: required when a username is set (or \"passwordFile\")");
        }

        ValidateSeconds("upstream.connectTimeout", upstream.ConnectTimeoutSeconds, errors);
        ValidateSeconds("upstream.handshakeTimeout", upstream.HandshakeTimeoutSeconds, errors);
    }

    private static void ValidateRelay(RelayOptions relay, List<string> errors)
    {
        if (!Enum.IsDefined(relay.Mode))
        {
            errors.Add($"relay.mode: {relay.Mode} is not a relay mode");
        }

        ValidateRange("relay.pipeSize", relay.PipeSize, RelayOptions.MinPipeSize, RelayOptions.MaxPipeSize, errors);
        ValidateRange("relay.bufferSize", relay.BufferSize, RelayOptions.MinBufferSize, RelayOptions.MaxBufferSize, errors);
        ValidateRange("relay.workers", relay.Workers, 0, RelayOptions.MaxWorkers, errors);
    }

    /// <summary>Checks a password/passwordFile pair and returns the password read from the file, if any.</summary>
    private static string? ValidateSecret(string path, string? password, string? passwordFile, bool required, string directory, List<string> errors)
    {
        if (password is not null && passwordFile is not null)
        {
            errors.Add($"{path}.password: \"password\" and \"passwordFile\" are mutually exclusive");
            return null;
        }

        if (password is not null)
        {
            if (!IsByteLengthValid(password))
            {
                errors.Add($"{path}.password: must be 1-255 bytes");
            }

            return null;
        }

        if (passwordFile is null)
        {
            if (required)
            {
                errors.Add($"{path}.password: required (or \"passwordFile\")");
            }

            return null;
        }

        if (passwordFile.Length == 0)
        {
            errors.Add($"{path}.passwordFile: is empty");
            return null;
        }

        var fullPath = Path.GetFullPath(passwordFile, directory);
        string secret;
        try
        {
            secret = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{path}.passwordFile: cannot read '{fullPath}': {ex.Message}");
            return null;
        }

        // Editors and `echo` add one newline; anything else is kept, since it might be part of the password.
        if (secret.EndsWith("\r\n", StringComparison.Ordinal))
        {
            secret = secret[..^2];
        }
        else if (secret.EndsWith('\n'))
        {
            secret = secret[..^1];
        }

        if (!IsByteLengthValid(secret))
        {
            errors.Add($"{path}.passwordFile: the password in '{fullPath}' must be 1-255 bytes");
            return null;
        }

        return secret;
    }

    private static void ValidateNetworks(string path, List<string>? networks, List<string> errors)
    {
        if (networks is null)
        {
            return;
        }

        for (var i = 0; i < networks.Count; i++)
        {
            if (!IpNetwork.TryParse(networks[i], out _, out var error))
            {
                errors.Add($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]: {error}");
            }
        }
    }

    private static void ValidateSeconds(string path, double seconds, List<string> errors)
    {
        if (!double.IsFinite(seconds) || seconds <= 0)
        {
            errors.Add($"{path}: must be greater than 0");
        }
        else if (seconds > MaxSeconds)
        {
            errors.Add($"{path}: must be at most {MaxSeconds.ToString(CultureInfo.InvariantCulture)} seconds");
        }
    }

    private static void ValidateAtLeastOne(string path, int value, List<string> errors)
    {
        if (value < 1)
        {
            errors.Add($"{path}: must be at least 1");
        }
    }

    private static void ValidateRange(string path, int value, int min, int max, List<string> errors)
    {
        if (value < min || value > max)
        {
            errors.Add($"{path}: must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    // RFC 1929 carries user names and passwords with a one-byte length, and an empty one cannot be told from none.
    private static bool IsByteLengthValid(string? value)
        => !string.IsNullOrEmpty(value) && Encoding.UTF8.GetByteCount(value) <= 255;
}
