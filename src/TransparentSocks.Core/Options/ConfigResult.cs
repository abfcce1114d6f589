using System.Diagnostics.CodeAnalysis;

namespace TransparentSocks.Options;

/// <summary>Either validated options or every problem found, each message starting with the JSON path it is about.</summary>
public sealed class ConfigResult
{
    private ConfigResult(TransparentSocksOptions? options, IReadOnlyList<string> errors)
    {
        Options = options;
        Errors = errors;
    }

    public TransparentSocksOptions? Options { get; }

    /// <summary>Messages such as <c>server.listen: '1.2.3.4' is not IP:PORT</c>; empty when <see cref="IsValid"/>.</summary>
    public IReadOnlyList<string> Errors { get; }

    [MemberNotNullWhen(true, nameof(Options))]
    public bool IsValid => Options is not null;

    internal static ConfigResult Valid(TransparentSocksOptions options) => new(options, []);

    internal static ConfigResult Invalid(IReadOnlyList<string> errors) => new(null, errors);

    /// <summary>A failure found before parsing, such as an unreadable config file. Public so the loader outside Core can report it.</summary>
    public static ConfigResult Invalid(string error) => new(null, [error]);

    public override string ToString() => IsValid ? "valid" : string.Join(Environment.NewLine, Errors);
}
