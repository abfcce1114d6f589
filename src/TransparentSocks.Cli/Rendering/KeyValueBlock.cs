namespace TransparentSocks.Cli.Rendering;

/// <summary>An optional heading, then "key: value" lines with the values in one column.</summary>
internal sealed class KeyValueBlock(string? title = null)
{
    private readonly List<(string Key, string Value)> _rows = [];

    public KeyValueBlock Add(string key, string value)
    {
        _rows.Add((key, value));
        return this;
    }

    public void Write(TextWriter output)
    {
        var indent = string.Empty;
        if (title is not null)
        {
            output.WriteLine(title);
            indent = "  ";
        }

        var width = _rows.Count == 0 ? 0 : _rows.Max(r => r.Key.Length) + 1;
        foreach (var (key, value) in _rows)
        {
            output.WriteLine($"{indent}{(key + ":").PadRight(width)}  {value}");
        }
    }
}
