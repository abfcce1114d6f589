using System.Globalization;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>One sample line: <c>name{labels} value [timestamp]</c>.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value, long? Timestamp)
{
    public bool HasLabels(params (string Name, string Value)[] labels)
        => labels.Length == Labels.Count && labels.All(l => Labels.TryGetValue(l.Name, out var v) && v == l.Value);
}

/// <summary>A metric family: its <c># TYPE</c>, its <c># HELP</c> and its samples, in order.</summary>
public sealed record PrometheusFamily(string Name, string? Type, string? Help, IReadOnlyList<PrometheusSample> Samples);

/// <summary>
/// A strict parser of the Prometheus text exposition format 0.0.4, written for the tests so that a scrape is read
/// the way Prometheus reads it rather than with substring matches. Anything the format does not allow throws
/// <see cref="FormatException"/> naming the line: a bad name, an unknown escape, an unterminated or duplicated
/// label, a TYPE after its samples or given twice, a family split in two, or the same series twice.
/// </summary>
public sealed class PrometheusText
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    private PrometheusText(IReadOnlyList<PrometheusFamily> families)
    {
        Families = families;
    }

    public IReadOnlyList<PrometheusFamily> Families { get; }

    public IEnumerable<PrometheusSample> Samples => Families.SelectMany(f => f.Samples);

    public PrometheusFamily Family(string name)
        => Families.SingleOrDefault(f => f.Name == name) ?? throw new KeyNotFoundException($"no family {name}");

    /// <summary>The value of the one sample named <paramref name="name"/> with exactly these labels.</summary>
    public double Value(string name, params (string Name, string Value)[] labels)
    {
        var matches = Samples.Where(s => s.Name == name && s.HasLabels(labels)).ToList();
        return matches.Count == 1
            ? matches[0].Value
            : throw new KeyNotFoundException($"{matches.Count} samples {name}{{{string.Join(",", labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}");
    }

    public static PrometheusText Parse(string text)
    {
        var builders = new List<FamilyBuilder>();
        var byName = new Dictionary<string, FamilyBuilder>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        FamilyBuilder? current = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var number = i + 1;
            if (line.Contains('\r', StringComparison.Ordinal))
            {
                throw Error(number, "carriage return; lines end with \\n only");
            }

            if (line.Length == 0)
            {
                continue;
            }

            if (line[0] == '#')
            {
                var directive = ParseDirective(line, number);
                if (directive is null)
                {
                    continue;
                }

                var (keyword, name, rest) = directive.Value;
                var family = Get(name);
                if (family.Samples.Count > 0)
                {
                    throw Error(number, $"{keyword} for {name} after its samples");
                }

                if (keyword == "TYPE")
                {
                    if (family.Type is not null)
                    {
                        throw Error(number, $"second TYPE for {name}");
                    }

                    family.Type = Types.Contains(rest) ? rest : throw Error(number, $"unknown type '{rest}'");
                }
                else
                {
                    if (family.Help is not null)
                    {
                        throw Error(number, $"second HELP for {name}");
                    }

                    family.Help = UnescapeHelp(rest, number);
                }

                current = family;
                continue;
            }

            var sample = ParseSample(line, number);
            var owner = FamilyOf(sample.Name);
            if (current?.Name != owner.Name && owner.Samples.Count > 0)
            {
                throw Error(number, $"samples of {owner.Name} are not grouped together");
            }

            var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";
            if (!series.Add(key))
            {
                throw Error(number, $"duplicate series {key}");
            }

            owner.Samples.Add(sample);
            current = owner;
        }

        return new PrometheusText([.. builders.Select(b => new PrometheusFamily(b.Name, b.Type, b.Help, b.Samples))]);

        FamilyBuilder Get(string name)
        {
            if (!byName.TryGetValue(name, out var family))
            {
                family = new FamilyBuilder(name);
                byName[name] = family;
                builders.Add(family);
            }

            return family;
        }

        // A histogram's or summary's _bucket/_sum/_count samples belong to the family declared without the suffix.
        FamilyBuilder FamilyOf(string sampleName)
        {
            foreach (var suffix in (string[])["_bucket", "_sum", "_count"])
            {
                if (sampleName.EndsWith(suffix, StringComparison.Ordinal)
                    && byName.TryGetValue(sampleName[..^suffix.Length], out var parent)
                    && parent.Type is "histogram" or "summary")
                {
                    return parent;
                }
            }

            return Get(sampleName);
        }
    }

    /// <summary>HELP or TYPE as (keyword, metric, rest); null for any other comment, which the format ignores.</summary>
    private static (string Keyword, string Name, string Text)? ParseDirective(string line, int number)
    {
        var tokens = line[1..].TrimStart(' ', '\t');
        foreach (var keyword in (string[])["HELP", "TYPE"])
        {
            if (tokens.StartsWith(keyword + " ", StringComparison.Ordinal) || tokens.StartsWith(keyword + "\t", StringComparison.Ordinal))
            {
                var body = tokens[keyword.Length..].TrimStart(' ', '\t');
                var end = body.IndexOfAny([' ', '\t']);
                var name = end < 0 ? body : body[..end];
                var rest = end < 0 ? string.Empty : body[(end + 1)..];
                if (!IsMetricName(name))
                {
                    throw Error(number, $"invalid metric name '{name}' in {keyword}");
                }

                return (keyword, name, keyword == "TYPE" ? rest.Trim(' ', '\t') : rest.TrimStart(' ', '\t'));
            }
        }

        return null;
    }

    private static PrometheusSample ParseSample(string line, int number)
    {
        var at = 0;
        while (at < line.Length && line[at] != '{' && line[at] != ' ' && line[at] != '\t')
        {
            at++;
        }

        var name = line[..at];
        if (!IsMetricName(name))
        {
            throw Error(number, $"invalid metric name '{name}'");
        }

        // Blanks may stand between the name and its labels, as Prometheus's own parser allows.
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var brace = SkipBlanks(line, at);
        if (brace < line.Length && line[brace] == '{')
        {
            at = ParseLabels(line, brace + 1, labels, number);
            if (at < line.Length && line[at] is not (' ' or '\t'))
            {
                throw Error(number, "no blank between the series and its value");
            }
        }

        var fields = line[at..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

        if (fields.Length is < 1 or > 2)
        {
            throw Error(number, "expected a value and at most a timestamp");
        }

        var value = ParseValue(fields[0]) ?? throw Error(number, $"invalid value '{fields[0]}'");
        long? timestamp = null;
        if (fields.Length == 2)
        {
            timestamp = long.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ts)
                ? ts
                : throw Error(number, $"invalid timestamp '{fields[1]}'");
        }

        return new PrometheusSample(name, labels, value, timestamp);
    }

    /// <summary>Reads <c>name="value",...}</c> from <paramref name="at"/>; returns the index after the closing brace.</summary>
    private static int ParseLabels(string line, int at, Dictionary<string, string> labels, int number)
    {
        while (true)
        {
            at = SkipBlanks(line, at);
            if (at < line.Length && line[at] == '}')
            {
                return at + 1;
            }

            var start = at;
            while (at < line.Length && line[at] is not ('=' or ' ' or '\t' or '}' or ','))
            {
                at++;
            }

            var name = line[start..at];
            if (!IsLabelName(name))
            {
                throw Error(number, $"invalid label name '{name}'");
            }

            at = SkipBlanks(line, at);
            if (at >= line.Length || line[at] != '=')
            {
                throw Error(number, $"label {name} has no '='");
            }

            at = SkipBlanks(line, at + 1);
            if (at >= line.Length || line[at] != '"')
            {
                throw Error(number, $"label {name} has no quoted value");
            }

            var value = new StringBuilder();
            at++;
            while (true)
            {
                if (at >= line.Length)
                {
                    throw Error(number, $"label {name}: unterminated value");
                }

                var c = line[at++];
                if (c == '"')
                {
                    break;
                }

                if (c == '\\')
                {
                    if (at >= line.Length)
                    {
                        throw Error(number, $"label {name}: unterminated escape");
                    }

                    value.Append(line[at++] switch
                    {
                        '\\' => '\\',
                        '"' => '"',
                        'n' => '\n',
                        var other => throw Error(number, $"label {name}: unknown escape '\\{other}'"),
                    });
                    continue;
                }

                value.Append(c);
            }

            if (!labels.TryAdd(name, value.ToString()))
            {
                throw Error(number, $"label {name} given twice");
            }

            at = SkipBlanks(line, at);
            if (at < line.Length && line[at] == ',')
            {
                at++;
                continue;
            }

            if (at < line.Length && line[at] == '}')
            {
                return at + 1;
            }

            throw Error(number, $"expected ',' or '}}' after label {name}");
        }
    }

    private static string UnescapeHelp(string text, int number)
    {
        var help = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\')
            {
                help.Append(text[i]);
                continue;
            }

            help.Append(++i < text.Length
                ? text[i] switch
                {
                    '\\' => '\\',
                    'n' => '\n',
                    var other => throw Error(number, $"HELP: unknown escape '\\{other}'"),
                }
                : throw Error(number, "HELP: unterminated escape"));
        }

        return help.ToString();
    }

    private static double? ParseValue(string text) => text switch
    {
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null,
    };

    private static bool IsMetricName(string name)
        => name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    private static bool IsLabelName(string name)
        => name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static int SkipBlanks(string line, int at)
    {
        while (at < line.Length && line[at] is ' ' or '\t')
        {
            at++;
        }

        return at;
    }

    private static FormatException Error(int line, string message) => new($"line {line}: {message}");

    private sealed class FamilyBuilder(string name)
    {
        public string Name { get; } = name;

        public string? Type { get; set; }

        public string? Help { get; set; }

        public List<PrometheusSample> Samples { get; } = [];
    }
}
