using System.Text.Json.Serialization;

namespace TransparentSocks.Options;

/// <summary>How bytes are moved between the two sockets of a connection (<c>"relay"</c>).</summary>
public sealed class RelayOptions
{
    public const int MinPipeSize = 4096;
    public const int MaxPipeSize = 16 * 1024 * 1024;
    public const int MinBufferSize = 4096;
    public const int MaxBufferSize = 1024 * 1024;
    public const int MaxWorkers = 1024;

    /// <summary>
    /// The longest drain a stop may ask for. The host's shutdown timeout and the unit's TimeoutStopSec are sized from
    /// it, so that systemd never kills a stop that is still inside its drain.
    /// </summary>
    public const double MaxDrainTimeoutSeconds = 60;

    public RelayMode Mode { get; set; } = RelayMode.Splice;

    /// <summary>Bytes per splice pipe; the kernel caps it at /proc/sys/fs/pipe-max-size for unprivileged processes.</summary>
    public int PipeSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes per direction for the copy relay, also used when splice is unavailable.</summary>
    public int BufferSize { get; set; } = 64 * 1024;

    /// <summary>Event-loop threads; 0 means one per CPU.</summary>
    public int Workers { get; set; }

    /// <summary>
    /// On stop (and when a listener is removed), how long sessions in flight may finish before they are reset.
    /// 0 resets them at once. Read when the stop begins, so a reload changes it for the next stop.
    /// </summary>
    [JsonPropertyName("drainTimeout")]
    public double DrainTimeoutSeconds { get; set; } = 5;

    [JsonIgnore]
    public TimeSpan DrainTimeout => TimeSpan.FromSeconds(DrainTimeoutSeconds);
}
