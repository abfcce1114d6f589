namespace TransparentSocks.TestSupport.Tests;

/// <summary>Tests that count this process's descriptors run with no other test beside them.</summary>
[CollectionDefinition(nameof(FdSensitive), DisableParallelization = true)]
public sealed class FdSensitive
{
}
