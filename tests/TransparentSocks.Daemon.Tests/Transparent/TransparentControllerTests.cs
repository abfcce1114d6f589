using TransparentSocks.Daemon.Hosting;
using TransparentSocks.Options;

namespace TransparentSocks.Daemon.Tests.Transparent;

[Trait("Category", "Unit")]
public sealed class TransparentControllerTests
{
    [Fact]
    public void IsStructuralChange_UdpToggled_RebuildsThePath()
    {
        // The ruleset's shape, the policy routes under REDIRECT and the engine's UDP sockets all follow transparent.udp.
        Assert.True(TransparentController.IsStructuralChange(new TransparentOptions { Udp = true }, new TransparentOptions { Udp = false }));
    }

    [Fact]
    public void IsStructuralChange_OnlyUdpTimeoutsChanged_IsAppliedInPlace()
    {
        var next = new TransparentOptions { UdpTimeoutSeconds = 5, UdpDnsTimeoutSeconds = 1 };

        Assert.False(TransparentController.IsStructuralChange(new TransparentOptions(), next));
    }

    [Fact]
    public void IsStructuralChange_FlowCapChanged_RebuildsThePath_SinceTheTableIsSizedOnce()
        => Assert.True(TransparentController.IsStructuralChange(new TransparentOptions(), new TransparentOptions { MaxUdpFlows = 10 }));
}
