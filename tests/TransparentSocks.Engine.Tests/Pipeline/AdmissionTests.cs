using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Pipeline;

namespace TransparentSocks.Engine.Tests.Pipeline;

[Trait("Category", "Unit")]
public sealed class AdmissionTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("198.51.100.2"), 40000);

    [Fact]
    public void TryAdmit_WithinLimits_TakesAConnectionAndAHandshakeSlot()
    {
        var admission = new Admission();
        Assert.Null(admission.TryAdmit(Client, new AdmissionLimits(null, 2, 2)));
        Assert.Equal(1, admission.Connections);
        Assert.Equal(1, admission.Handshakes);
        admission.HandshakeDone();
        admission.ConnectionClosed();
        Assert.Equal(0, admission.Connections);
        Assert.Equal(0, admission.Handshakes);
    }

    [Fact]
    public void TryAdmit_AtMaxConnections_RefusesAndTakesNothing()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 1, MaxHandshakes: 0);
        Assert.Null(admission.TryAdmit(Client, limits));
        Assert.Contains("maxConnections (1)", admission.TryAdmit(Client, limits), StringComparison.Ordinal);
        Assert.Equal(1, admission.Connections);
        Assert.Equal(1, admission.Handshakes);
    }

    [Fact]
    public void TryAdmit_AtMaxHandshakes_RefusesAndGivesTheConnectionSlotBack()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 10, MaxHandshakes: 1);
        Assert.Null(admission.TryAdmit(Client, limits));
        Assert.Contains("maxHandshakes (1)", admission.TryAdmit(Client, limits), StringComparison.Ordinal);
        Assert.Equal(1, admission.Connections);

        // Once the first handshake is done, its slot is free for the next client.
        admission.HandshakeDone();
        Assert.Null(admission.TryAdmit(Client, limits));
    }

    [Fact]
    public void TryAdmit_ZeroLimits_MeanNoLimit()
    {
        var admission = new Admission();
        for (var i = 0; i < 1000; i++)
        {
            Assert.Null(admission.TryAdmit(Client, AdmissionLimits.None));
        }

        Assert.Equal(1000, admission.Connections);
    }

    [Fact]
    public void TryAdmit_SourceOutsideAllowedClients_IsRefused()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(new NetworkSet([IpNetwork.Parse("203.0.113.0/24")]), 0, 0);
        Assert.Contains("allowedClients", admission.TryAdmit(Client, limits), StringComparison.Ordinal);
        Assert.Null(admission.TryAdmit(new IPEndPoint(IPAddress.Parse("203.0.113.9"), 1), limits));
        Assert.Equal(1, admission.Connections);
    }

    [Fact]
    public void TryAdmit_AfterClose_RefusesUntilReopened()
    {
        var admission = new Admission();
        admission.Close();
        Assert.Equal("shutting down", admission.TryAdmit(Client, AdmissionLimits.None));
        admission.Reopen();
        Assert.Null(admission.TryAdmit(Client, AdmissionLimits.None));
    }
}
