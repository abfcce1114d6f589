namespace TransparentSocks.Daemon.Tests;

/// <summary>
/// Tests that load the host on purpose (10,000 connections a second, a soak, a NativeAOT publish with clang) run in
/// this collection, alone: beside them the other tests' timeouts would measure the load, and their load would
/// blur the figures these tests bound (CPU while out of descriptors, an honest client's latency, thread growth).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeavyLoadCollection
{
    public const string Name = "heavy load";
}
