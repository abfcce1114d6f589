using System.Globalization;
using System.Text;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>What a family is in the Prometheus text format.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
}

/// <summary>
/// The Prometheus text exposition format 0.0.4: instrument names translated the way the OpenTelemetry exporter did
/// (so dashboards built on it keep working), and families, samples and escapes written. Pure: strings in, text out.
/// </summary>
internal static class PrometheusExposition
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// The metric name for an instrument: dots become underscores, a unit adds its suffix (<c>By</c> → <c>_bytes</c>,
    /// <c>s</c> → <c>_seconds</c>; a unit in braces is an annotation and adds nothing) unless the name already ends
    /// in it, and a counter ends in <c>_total</c>.
    /// </summary>
    public static string MetricName(string instrument, string? unit, PrometheusType type)
    {
        var name = new StringBuilder(instrument.Length + 16);
        foreach (var c in instrument)
        {
            name.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or ':' ? c : '_');
        }

        if (name.Length > 0 && char.IsAsciiDigit(name[0]))
        {
            name.Insert(0, '_');
        }

        var suffix = unit switch
        {
            "By" => "_bytes",
            "s" => "_seconds",
            _ => null,
        };
        if (suffix is not null && !EndsWith(name, suffix))
        {
            name.Append(suffix);
        }

        if (type == PrometheusType.Counter && !EndsWith(name, "_total"))
        {
            name.Append("_total");
        }

        return name.ToString();
    }

    /// <summary>The HELP and TYPE lines that open a family.</summary>
    public static void AppendFamily(StringBuilder text, string name, PrometheusType type, string? help)
    {
        if (!string.IsNullOrEmpty(help))
        {
            text.Append("# HELP ").Append(name).Append(' ');
            AppendEscaped(text, help, quote: false);
            text.Append('\n');
        }

        text.Append("# TYPE ").Append(name).Append(type == PrometheusType.Counter ? " counter\n" : " gauge\n");
    }

    /// <summary>One sample line. Label names must already be valid; values are escaped.</summary>
    public static void AppendSample(StringBuilder text, string name, ReadOnlySpan<KeyValuePair<string, object?>> labels, double value)
    {
        text.Append(name);
        if (!labels.IsEmpty)
        {
            text.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                if (i > 0)
                {
                    text.Append(',');
                }

                text.Append(labels[i].Key).Append("=\"");
                AppendEscaped(text, Convert.ToString(labels[i].Value, CultureInfo.InvariantCulture) ?? string.Empty, quote: true);
                text.Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(FormatValue(value)).Append('\n');
    }

    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    /// <summary>Backslash and newline always; the double quote only inside a label value, as the format says.</summary>
    private static void AppendEscaped(StringBuilder text, string value, bool quote)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    text.Append("\\\\");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '"' when quote:
                    text.Append("\\\"");
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }
    }

    private static bool EndsWith(StringBuilder name, string suffix)
    {
        if (name.Length < suffix.Length)
        {
            return false;
        }

        for (var i = 0; i < suffix.Length; i++)
        {
            if (name[name.Length - suffix.Length + i] != suffix[i])
            {
                return false;
            }
        }

        return true;
    }
}
