using System.Diagnostics.CodeAnalysis;

namespace TransparentSocks.Sniffing;

/// <summary>
/// Domain suffixes, as <c>transparent.bypassDomains</c> lists them: "example.com" matches example.com and every name
/// under it, never "badexample.com". A lookup walks the name's label boundaries, one hash probe each, without
/// allocating: it runs on the accept path of every sniffed connection.
/// </summary>
public sealed class DomainSuffixSet
{
    private readonly HashSet<string> _suffixes;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private DomainSuffixSet(HashSet<string> suffixes)
    {
        _suffixes = suffixes;
        _lookup = suffixes.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static DomainSuffixSet Empty { get; } = new([]);

    public int Count => _suffixes.Count;

    /// <summary>The set of <paramref name="entries"/>; throws <see cref="FormatException"/> naming the first that is not a domain.</summary>
    public static DomainSuffixSet Parse(IEnumerable<string> entries)
    {
        var suffixes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!TryNormalize(entry, out var suffix, out var error))
            {
                throw new FormatException(error);
            }

            suffixes.Add(suffix);
        }

        return suffixes.Count == 0 ? Empty : new DomainSuffixSet(suffixes);
    }

    /// <summary>
    /// The form an entry is matched in: lower-cased, without a trailing dot, and without a leading "." or "*." (both
    /// are common ways to write "this domain and its subdomains", which is what every entry means here).
    /// </summary>
    public static bool TryNormalize(string? entry, [NotNullWhen(true)] out string? suffix, [NotNullWhen(false)] out string? error)
    {
        suffix = null;
        if (string.IsNullOrEmpty(entry))
        {
            error = "is empty; must be a domain name such as example.com";
            return false;
        }

        var name = entry.StartsWith("*.", StringComparison.Ordinal) ? entry[2..] : entry.StartsWith('.') ? entry[1..] : entry;
        if (!SniffedName.TryNormalize(name, out suffix, out var reason))
        {
            error = $"'{Text.LogText.Escape(entry)}' is not a domain name ({Describe(reason)})";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Whether <paramref name="name"/> (normalised, as <see cref="SniffedName"/> gives it) is a listed domain or under one.</summary>
    public bool Matches(ReadOnlySpan<char> name)
    {
        if (_suffixes.Count == 0)
        {
            return false;
        }

        while (true)
        {
            if (_lookup.Contains(name))
            {
                return true;
            }

            var dot = name.IndexOf('.');
            if (dot < 0)
            {
                return false;
            }

            name = name[(dot + 1)..];
        }
    }

    public static string Describe(SniffedNameError error) => error switch
    {
        SniffedNameError.Empty or SniffedNameError.Missing => "empty",
        SniffedNameError.TooLong => $"longer than {SniffedName.MaxLength} characters",
        SniffedNameError.EmptyLabel => "an empty label",
        SniffedNameError.LabelTooLong => $"a label longer than {SniffedName.MaxLabelLength} characters",
        SniffedNameError.BadCharacter => "only letters, digits, hyphens and dots are allowed",
        SniffedNameError.BadHyphen => "a label starts or ends with a hyphen",
        SniffedNameError.IpLiteral => "an IP address; transparent.bypass takes addresses",
        _ => error.ToString(),
    };
}
