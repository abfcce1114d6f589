namespace TransparentSocks.Linux.Relay;

/// <summary>Told once how a relay ended (see <see cref="SocketRelay.Start"/>).</summary>
public interface IRelayCompletion
{
    /// <summary>Runs on the thread that ended the last direction (an event loop's, or the pool's); must not throw.</summary>
    void RelayEnded(in RelayResult result);
}
