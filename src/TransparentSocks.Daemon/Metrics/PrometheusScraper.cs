using System.Diagnostics.Metrics;
using System.Text;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// Reads one meter's observable instruments on demand and writes them as Prometheus text. The instruments' callbacks
/// run only inside <see cref="Scrape"/>, one scrape at a time, so they need no locking of their own.
/// </summary>
/// <remarks>
/// Families come in the order their instruments were created; one that has no sample this time (no interface, no
/// group) is left out rather than shown empty, as the OpenTelemetry exporter did before it.
/// </remarks>
internal sealed class PrometheusScraper : IDisposable
{
    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly List<Family> _families = [];
    private readonly Dictionary<Instrument, Family> _byInstrument = [];
    private readonly Lock _scrape = new();

    public PrometheusScraper(Meter meter)
    {
        _meter = meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, _meter) || TypeOf(instrument) is not { } type)
            {
                return;
            }

            lock (_scrape)
            {
                var family = new Family(PrometheusExposition.MetricName(instrument.Name, instrument.Unit, type), type, instrument.Description);
                _families.Add(family);
                _byInstrument[instrument] = family;
            }

            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Every family with its current samples, as the body of a scrape.</summary>
    public string Scrape()
    {
        lock (_scrape)
        {
            foreach (var family in _families)
            {
                family.Samples.Clear();
            }

            _listener.RecordObservableInstruments();
            var text = new StringBuilder(16 * 1024);
            foreach (var family in _families)
            {
                if (family.Samples.Count == 0)
                {
                    continue;
                }

                PrometheusExposition.AppendFamily(text, family.Name, family.Type, family.Help);
                foreach (var (labels, value) in family.Samples)
                {
                    PrometheusExposition.AppendSample(text, family.Name, labels, value);
                }

                family.Samples.Clear();
            }

            return text.ToString();
        }
    }

    private static PrometheusType? TypeOf(Instrument instrument) => instrument switch
    {
        ObservableCounter<long> or ObservableCounter<double> or ObservableCounter<int> => PrometheusType.Counter,
        ObservableUpDownCounter<long> or ObservableUpDownCounter<double> or ObservableUpDownCounter<int> => PrometheusType.Gauge,
        ObservableGauge<long> or ObservableGauge<double> or ObservableGauge<int> => PrometheusType.Gauge,

        // Only observable instruments are read at a scrape; a pushed one would need aggregation kept between them.
        _ => null,
    };

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Called from RecordObservableInstruments inside Scrape, which holds the lock.
        if (_byInstrument.TryGetValue(instrument, out var family))
        {
            family.Samples.Add((tags.ToArray(), value));
        }
    }

    public void Dispose() => _listener.Dispose();

    private sealed record Family(string Name, PrometheusType Type, string? Help)
    {
        public List<(KeyValuePair<string, object?>[] Labels, double Value)> Samples { get; } = [];
    }
}
