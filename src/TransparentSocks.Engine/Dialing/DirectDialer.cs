using System.Runtime.CompilerServices;

namespace TransparentSocks.Engine.Dialing;

/// <summary>Connects straight to the destination, trying every address in order.</summary>
public sealed class DirectDialer : IDialer
{
    private readonly ConnectOptions _options;

    public DirectDialer(TimeSpan connectTimeout, uint mark = 0)
    {
        _options = new ConnectOptions(connectTimeout, mark);
    }

    public string Name => "direct";

    /// <summary>Names are resolved here, so the route step resolves them first and applies the policy to the addresses.</summary>
    public bool ResolvesLocally => true;

    /// <summary>Dials, connections and failures by reason; the pool counters stay zero.</summary>
    public DialerStats Stats { get; } = new();

    // Pooled: the dial is on every connection's path, and each frame that suspends costs a box per connection.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = request.Addresses is { } addresses
            ? await Connector.ConnectAnyAsync(addresses, request.Destination.Port, request.Loop, _options, cancellationToken).ConfigureAwait(false)
            : await ResolveAndConnectAsync(request, cancellationToken).ConfigureAwait(false);
        Stats.DialCompleted(result);
        return result;
    }

    public ValueTask<Udp.UdpAssociateResult> AssociateAsync(Udp.UdpRuntime runtime, UdpStats stats, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = Udp.DirectUdpAssociation.Open(runtime, stats, _options.Mark);
        Stats.AssociationCompleted(result);
        return ValueTask.FromResult(result);
    }

    private async ValueTask<DialResult> ResolveAndConnectAsync(DialRequest request, CancellationToken cancellationToken)
    {
        var (resolved, failure) = await Connector.ResolveAsync(request.Destination, _options.Timeout, cancellationToken).ConfigureAwait(false);
        return resolved.Length == 0
            ? failure
            : await Connector.ConnectAnyAsync(resolved, request.Destination.Port, request.Loop, _options, cancellationToken).ConfigureAwait(false);
    }
}
