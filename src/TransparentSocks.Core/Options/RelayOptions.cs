namespace TransparentSocks.Options;

/// <summary>How bytes are moved between the two sockets of a connection (<c>"relay"</c>).</summary>
public sealed class RelayOptions
{
    public const int MinPipeSize = 4096;
    public const int MaxPipeSize = 16 * 1024 * 1024;
    public const int MinBufferSize = 4096;
    public const int MaxBufferSize = 1024 * 1024;
    public const int MaxWorkers = 1024;

    public RelayMode Mode { get; set; } = RelayMode.Splice;

    /// <summary>Bytes per splice pipe; the kernel caps it at /proc/sys/fs/pipe-max-size for unprivileged processes.</summary>
    public int PipeSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes per direction for the copy relay, also used when splice is unavailable.</summary>
    public int BufferSize { get; set; } = 64 * 1024;

    /// <summary>Event-loop threads; 0 means one per CPU.</summary>
    public int Workers { get; set; }
}
