using TransparentSocks.Options;

namespace TransparentSocks.Linux.Relay;

public sealed record RelaySettings
{
    /// <summary>splice(2) through a kernel pipe per direction (falling back to copying where splice is refused), or recv/send through a pooled buffer.</summary>
    public RelayMode Mode { get; init; } = RelayMode.Splice;

    public int PipeSize { get; init; } = 1 << 20;

    public int BufferSize { get; init; } = 64 * 1024;

    /// <summary>No bytes in either direction for this long closes the session. Zero disables it.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
}
