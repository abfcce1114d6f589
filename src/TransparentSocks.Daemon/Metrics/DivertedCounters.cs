using System.ComponentModel;
using System.Text.Json;
using TransparentSocks.Daemon.Network;

namespace TransparentSocks.Daemon.Metrics;

/// <summary>
/// Our nft table's counters, read with <c>nft -j list counters</c> at scrape time and kept for a second. The two
/// divert instruments of one scrape then share a single nft run, and a burst of scrapers cannot fork nft per
/// request; a second is far below any scrape interval, so the figures are never meaningfully stale.
/// </summary>
internal sealed class DivertedCounters
{
    private static readonly IReadOnlyDictionary<string, (long Packets, long Bytes)> None = new Dictionary<string, (long, long)>();

    private readonly Func<Task<IReadOnlyDictionary<string, (long Packets, long Bytes)>>> _read;
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly Lock _lock = new();
    private IReadOnlyDictionary<string, (long Packets, long Bytes)> _cached = None;
    private long _readAt;
    private bool _valid;

    public DivertedCounters(
        Func<Task<IReadOnlyDictionary<string, (long Packets, long Bytes)>>>? read = null, TimeProvider? time = null, TimeSpan? ttl = null)
    {
        _read = read ?? NftClient.ReadCountersAsync;
        _time = time ?? TimeProvider.System;
        _ttl = ttl ?? TimeSpan.FromSeconds(1);
    }

    /// <summary>The counters by name; empty when nft cannot be read, so the series are left out, never zeroed.</summary>
    public IReadOnlyDictionary<string, (long Packets, long Bytes)> Read()
    {
        lock (_lock)
        {
            if (_valid && _time.GetElapsedTime(_readAt) < _ttl)
            {
                return _cached;
            }

            try
            {
                // The exporter calls instruments synchronously on its own scrape thread; blocking it on nft is the
                // price of reading the kernel only when asked.
                _cached = _read().GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is Win32Exception or JsonException or InvalidOperationException or IOException)
            {
                _cached = None;
            }

            _readAt = _time.GetTimestamp();
            _valid = true;
            return _cached;
        }
    }
}
