using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Relay;

/// <summary>How a relayed session ended.</summary>
public enum RelayOutcome
{
    /// <summary>Both sides sent EOF and every byte was delivered.</summary>
    Completed,

    /// <summary>No traffic for the idle timeout.</summary>
    IdleTimeout,

    /// <summary>The client reset or failed mid-stream.</summary>
    ClientError,

    /// <summary>The upstream (or destination) reset or failed mid-stream.</summary>
    UpstreamError,

    /// <summary>The relay was aborted from outside (shutdown, admin action).</summary>
    Aborted,
}

public readonly record struct RelayResult(RelayOutcome Outcome, Errno Error, long BytesUp, long BytesDown, bool Spliced)
{
    public override string ToString()
        => Outcome == RelayOutcome.Completed
            ? $"completed, up {BytesUp} B, down {BytesDown} B"
            : $"{Outcome} ({Error.Describe()}), up {BytesUp} B, down {BytesDown} B";
}
