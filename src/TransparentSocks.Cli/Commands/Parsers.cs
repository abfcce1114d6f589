using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using TransparentSocks.Addressing;
using TransparentSocks.Options;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// Client-side validation. A bad value becomes a parse error, which ends the command with exit code 2 before any
/// call reaches the daemon.
/// </summary>
internal static class Parsers
{
    private const int InterfaceNameMax = 15;

    /// <summary>HOST:PORT (IPv6 as [addr]:port), normalised; port 0 is refused because nothing can be dialled there.</summary>
    public static string? Upstream(ArgumentResult result, string what)
    {
        if (Endpoint(result, what) is not { } destination)
        {
            return null;
        }

        if (destination.Port == 0)
        {
            result.AddError($"{what}: port 0 cannot be dialled; give the upstream's port");
            return null;
        }

        return destination.ToString();
    }

    /// <summary>IP:PORT to listen on (IPv6 as [addr]:port): a host name would be ambiguous about which address binds.</summary>
    public static string? Listen(ArgumentResult result, string what)
    {
        if (Endpoint(result, what) is not { } destination)
        {
            return null;
        }

        if (destination.IsDomain)
        {
            result.AddError($"{what}: '{destination.Host}' is not an IP address; listen on an address such as 127.0.0.1:1080 or [::1]:1080");
            return null;
        }

        return destination.ToString();
    }

    /// <summary>HOST:PORT as <see cref="Destination"/> reads it, whatever the caller then requires of it; null after an error.</summary>
    private static Destination? Endpoint(ArgumentResult result, string what)
    {
        if (Token(result) is not { } text)
        {
            return null;
        }

        if (!Destination.TryParse(text, out var destination, out var error))
        {
            result.AddError($"{what}: {error}");
            return null;
        }

        return destination;
    }

    /// <summary>The kernel's own rule (dev_valid_name): 1-15 bytes, not "." or "..", no '/', ':' or white space.</summary>
    public static string? InterfaceName(ArgumentResult result)
    {
        if (Token(result) is not { } name)
        {
            return null;
        }

        if (name.Length is 0 or > InterfaceNameMax
            || System.Text.Encoding.UTF8.GetByteCount(name) > InterfaceNameMax
            || name is "." or ".."
            || name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            result.AddError($"'{name}' is not an interface name (1-15 characters, no '/', ':' or spaces)");
            return null;
        }

        return name;
    }

    public static int NonNegativeInt(ArgumentResult result, string what) => WholeNumber(result, what, minimum: 0);

    public static int PositiveInt(ArgumentResult result, string what) => WholeNumber(result, what, minimum: 1);

    public static int IntInRange(ArgumentResult result, string what, int minimum, int maximum) => WholeNumber(result, what, minimum, maximum);

    /// <summary>
    /// The name an upstream or a group is defined under: the config's rule, and none of the names references already
    /// give a meaning (direct, default, upstream).
    /// </summary>
    public static string? DefinedName(ArgumentResult result, string kind)
    {
        if (Token(result) is not { } name)
        {
            return null;
        }

        if (NameError(name, kind) is { } error)
        {
            result.AddError(error);
            return null;
        }

        if (UpstreamNames.IsReserved(name))
        {
            result.AddError($"'{name}' is reserved: no {kind} may be called direct, default or upstream, which already mean something (the default upstream is set with 'set endpoint')");
            return null;
        }

        return name;
    }

    /// <summary>
    /// A name referring to an upstream or a group (<c>default</c> and <c>upstream</c> are the default upstream);
    /// <c>direct</c> only where the server's outbound is meant. Whether it exists is the daemon's to say.
    /// </summary>
    public static string? Reference(ArgumentResult result, string what, bool allowDirect)
    {
        if (Token(result) is not { } name)
        {
            return null;
        }

        return CheckReference(result, what, name, allowDirect) ? name : null;
    }

    /// <summary>Every token a reference (see <see cref="Reference"/>); group members, one error per bad one.</summary>
    public static string[] References(ArgumentResult result, string what)
    {
        var names = result.Tokens.Select(t => t.Value).ToArray();
        return names.All(n => CheckReference(result, what, n, allowDirect: false)) ? names : [];
    }

    /// <summary>One of <paramref name="names"/>, as the config file writes it (any case is read, like the file's).</summary>
    public static string? Choice(ArgumentResult result, string what, IReadOnlyList<string> names)
    {
        if (Token(result) is not { } text)
        {
            return null;
        }

        if (names.FirstOrDefault(n => string.Equals(n, text, StringComparison.OrdinalIgnoreCase)) is { } name)
        {
            return name;
        }

        result.AddError($"{what} must be one of {string.Join(", ", names)}, not '{text}'");
        return null;
    }

    /// <summary>
    /// Seconds as a decimal number ("300", "2.5", "1e3"), refused here unless the daemon would take it: a whole number
    /// of milliseconds in the range every timeout shares.
    /// </summary>
    public static double Duration(ArgumentResult result, string what) => Duration(result, what, Durations.MinSeconds, Durations.MaxSeconds);

    /// <inheritdoc cref="Duration(ArgumentResult, string)"/>
    public static double Duration(ArgumentResult result, string what, double minimum, double maximum)
    {
        if (Token(result) is not { } text)
        {
            return 0;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            result.AddError($"{what} must be a number of seconds, not '{text}'");
            return 0;
        }

        if (Durations.Check(what, value, minimum, maximum) is { } error)
        {
            result.AddError(error);
            return 0;
        }

        return value;
    }

    public static bool OnOff(ArgumentResult result, string what)
    {
        switch (Token(result))
        {
            case null:
                return false;
            case "on":
                return true;
            case "off":
                return false;
            case var text:
                result.AddError($"{what} must be 'on' or 'off', not '{text}'");
                return false;
        }
    }

    public static Argument<bool> OnOffArgument(string name, string what)
    {
        var argument = new Argument<bool>(name)
        {
            Description = "on or off",
            HelpName = "on|off",
            CustomParser = result => OnOff(result, what),
        };

        // Argument<bool> would offer True and False, which this parser refuses.
        argument.CompletionSources.Clear();
        argument.CompletionSources.Add("on", "off");
        return argument;
    }

    /// <summary>An option whose value names an upstream or a group, checked as <see cref="Reference"/> checks it.</summary>
    public static Option<string> ReferenceOption(string name, string description, bool allowDirect) => new(name)
    {
        Description = description,
        HelpName = "NAME",
        CustomParser = r => Reference(r, name, allowDirect),
    };

    public static Argument<string> InterfaceArgument(string description)
    {
        var argument = new Argument<string>("IFACE")
        {
            Description = description,

            // Without it, help would list this machine's interfaces as if they were the only choices.
            HelpName = "IFACE",
            CustomParser = InterfaceName,
        };
        argument.CompletionSources.Add(_ => LocalInterfaces());
        return argument;
    }

    private static IEnumerable<string> LocalInterfaces()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/sys/class/net").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static int WholeNumber(ArgumentResult result, string what, int minimum, int maximum = int.MaxValue)
    {
        if (Token(result) is not { } text)
        {
            return 0;
        }

        // NumberStyles.None: no sign, no blanks, no thousands separators; "-1" and "1e3" are typos, not numbers.
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < minimum || value > maximum)
        {
            result.AddError($"{what} must be a whole number from {minimum} to {maximum}, not '{text}'");
            return 0;
        }

        return value;
    }

    private static bool CheckReference(ArgumentResult result, string what, string name, bool allowDirect)
    {
        if (NameError(name, "upstream or group") is { } error)
        {
            result.AddError($"{what}: {error}");
            return false;
        }

        if (!allowDirect && name == UpstreamNames.Direct)
        {
            result.AddError($"{what}: 'direct' is the server's outbound without a proxy; here it must name an upstream or a group");
            return false;
        }

        return true;
    }

    private static string? NameError(string name, string kind)
        => UpstreamNames.IsValid(name)
            ? null
            : $"'{name}' is not a valid {kind} name (1-{UpstreamNames.MaxLength} letters, digits, '.', '_' or '-', starting with a letter or digit)";

    private static string? Token(ArgumentResult result) => result.Tokens.Count == 0 ? null : result.Tokens[0].Value;
}
