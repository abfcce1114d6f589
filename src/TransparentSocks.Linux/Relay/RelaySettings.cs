namespace TransparentSocks.Linux.Relay;

public enum RelayEngine
{
    /// <summary>splice(2) through a kernel pipe per direction; falls back to <see cref="Copy"/> where splice is refused.</summary>
    Splice,

    /// <summary>recv/send through a pooled buffer.</summary>
    Copy,
}

public sealed record RelaySettings
{
    public RelayEngine Engine { get; init; } = RelayEngine.Splice;

    public int PipeSize { get; init; } = 1 << 20;

    public int BufferSize { get; init; } = 64 * 1024;

    /// <summary>No bytes in either direction for this long closes the session. Zero disables it.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
