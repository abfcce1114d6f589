using System.Globalization;
using System.Text;

namespace TransparentSocks.Text;

/// <summary>
/// Makes text a peer chose (a user name, a domain name, an upstream's answer) safe to put in a log line.
/// </summary>
/// <remarks>
/// A raw newline in such text forges a log line, and ESC, CR or BS rewrite what a terminal shows, so everything a
/// terminal or a log viewer could act on is written as an escape instead: C0 and C1 controls, DEL, format characters
/// (bidi overrides, zero-width joiners, the BOM), line and paragraph separators, spaces other than U+0020, lone
/// surrogates, private-use and unassigned code points. A backslash is doubled, so an escape in the output always
/// means the byte was there, never that the peer typed the four characters. The result is bounded, so a peer cannot
/// fill a log with one long name either.
/// </remarks>
public static class LogText
{
    /// <summary>Characters of the input kept; the rest is only counted.</summary>
    public const int MaxLength = 512;

    /// <summary>The text as it may appear in a log: unchanged (and not copied) when it is already safe.</summary>
    public static string Escape(string? text)
    {
        if (text is null)
        {
            return string.Empty;
        }

        var span = text.AsSpan();
        if (span.Length <= MaxLength && span.IndexOfAnyExceptInRange(' ', '~') < 0 && !span.Contains('\\'))
        {
            return text;
        }

        var escaped = new StringBuilder(Math.Min(span.Length, MaxLength) + 16);
        var i = 0;
        while (i < span.Length && i < MaxLength)
        {
            var c = span[i];
            if (char.IsHighSurrogate(c) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                var rune = new Rune(c, span[i + 1]);
                if (IsShown(rune))
                {
                    escaped.Append(c).Append(span[i + 1]);
                }
                else
                {
                    escaped.Append(CultureInfo.InvariantCulture, $"\\U{rune.Value:X8}");
                }

                i += 2;
                continue;
            }

            if (c == '\\')
            {
                escaped.Append(@"\\");
            }
            else if (!char.IsSurrogate(c) && IsShown(new Rune(c)))
            {
                escaped.Append(c);
            }
            else if (c <= '\u00FF')
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }

            i++;
        }

        if (i < span.Length)
        {
            escaped.Append(CultureInfo.InvariantCulture, $"...({span.Length - i} more)");
        }

        return escaped.ToString();
    }

    private static bool IsShown(Rune rune)
    {
        if (rune.Value is >= ' ' and <= '~')
        {
            return true;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.SpaceSeparator or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned => false,
            _ => true,
        };
    }
}
