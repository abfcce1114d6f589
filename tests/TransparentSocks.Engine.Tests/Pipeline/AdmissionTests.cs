using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Engine.Pipeline;

namespace TransparentSocks.Engine.Tests.Pipeline;

[Trait("Category", "Unit")]
public sealed class AdmissionTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("198.51.100.2"), 40000);
    private static readonly IPEndPoint Attacker = new(IPAddress.Parse("198.51.100.66"), 40000);
    private static readonly IPEndPoint Other = new(IPAddress.Parse("203.0.113.7"), 40000);

    private static Handshake Admit(Admission admission, IPEndPoint client, AdmissionLimits limits)
    {
        Assert.Null(admission.TryAdmit(client, limits, null, out var handshake));
        return Assert.IsType<Handshake>(handshake);
    }

    [Fact]
    public void TryAdmit_WithinLimits_TakesAConnectionAndAHandshakeSlot()
    {
        var admission = new Admission();
        var handshake = Admit(admission, Client, new AdmissionLimits(null, 2, 2));
        Assert.Equal(1, admission.Connections);
        Assert.Equal(1, admission.Handshakes);
        Assert.True(admission.HandshakeDone(handshake));
        admission.ConnectionClosed();
        Assert.Equal(0, admission.Connections);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, admission.Sources);
    }

    [Fact]
    public void TryAdmit_AtMaxConnections_RefusesAndTakesNothing()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 1, MaxHandshakes: 0);
        Admit(admission, Client, limits);
        Assert.Contains("maxConnections (1)", admission.TryAdmit(Client, limits, null, out var refused), StringComparison.Ordinal);
        Assert.Null(refused);
        Assert.Equal(1, admission.Connections);
        Assert.Equal(1, admission.Handshakes);
    }

    [Fact]
    public void TryAdmit_OverMaxHandshakesPerClient_RefusesThatSourceOnly()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 100, MaxHandshakes: 100, MaxHandshakesPerClient: 3);
        for (var i = 0; i < 3; i++)
        {
            Admit(admission, Attacker, limits);
        }

        Assert.Contains("maxHandshakesPerClient (3)", admission.TryAdmit(Attacker, limits, null, out _), StringComparison.Ordinal);
        Assert.Equal(3, admission.HandshakesFrom(Attacker.Address));
        Assert.Equal(3, admission.Connections);

        // Another port of the same address is the same source; another address is not.
        Assert.NotNull(admission.TryAdmit(new IPEndPoint(Attacker.Address, 1), limits, null, out _));
        Admit(admission, Client, limits);
        Assert.Equal(4, admission.Handshakes);
    }

    [Fact]
    public void TryAdmit_PerClientCapFreed_AdmitsThatSourceAgain()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, 0, 0, MaxHandshakesPerClient: 1);
        var first = Admit(admission, Client, limits);
        Assert.NotNull(admission.TryAdmit(Client, limits, null, out _));
        Assert.True(admission.HandshakeDone(first));
        Admit(admission, Client, limits);
    }

    [Fact]
    public void TryAdmit_HandshakeBudgetFull_EvictsTheOldestInsteadOfRefusing()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 10, MaxHandshakes: 2);
        var first = Admit(admission, Client, limits);
        var second = Admit(admission, Other, limits);

        var third = Admit(admission, Attacker, limits);

        Assert.Equal(2, admission.Handshakes);
        Assert.Equal(3, admission.Connections);
        Assert.False(admission.HandshakeDone(first));
        Assert.True(admission.HandshakeDone(second));
        Assert.True(admission.HandshakeDone(third));
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, admission.Sources);
    }

    [Fact]
    public void TryAdmit_HandshakeBudgetFull_EvictsTheOldestOfTheBusiestSource()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 0, MaxHandshakes: 4);

        // The honest handshake is the oldest of all, but its source holds one; the attacker's holds three.
        var honest = Admit(admission, Client, limits);
        var attacks = Enumerable.Range(0, 3).Select(_ => Admit(admission, Attacker, limits)).ToList();

        var newcomer = Admit(admission, Other, limits);
        var refill = Admit(admission, Attacker, limits);

        Assert.Equal(4, admission.Handshakes);
        Assert.Equal(2, admission.HandshakesFrom(Attacker.Address));
        Assert.Equal(1, admission.HandshakesFrom(Client.Address));

        // The attacker's two oldest went, in order; its newest two and everyone else stayed.
        Assert.False(admission.HandshakeDone(attacks[0]));
        Assert.False(admission.HandshakeDone(attacks[1]));
        Assert.True(admission.HandshakeDone(attacks[2]));
        Assert.True(admission.HandshakeDone(refill));
        Assert.True(admission.HandshakeDone(honest));
        Assert.True(admission.HandshakeDone(newcomer));
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, admission.Sources);
    }

    [Fact]
    public void TryAdmit_BudgetFullOfOneSource_EvictsItsOldestFirst()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, 0, MaxHandshakes: 3);
        var held = Enumerable.Range(0, 3).Select(_ => Admit(admission, Attacker, limits)).ToList();
        for (var i = 0; i < 3; i++)
        {
            held.Add(Admit(admission, Attacker, limits));
        }

        Assert.Equal([false, false, false, true, true, true], held.Select(admission.HandshakeDone));
        Assert.Equal(0, admission.Handshakes);
    }

    [Fact]
    public void HandshakeDone_EveryConnectionOfManySources_LeavesNoCountsOrSourcesBehind()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(null, MaxConnections: 0, MaxHandshakes: 50, MaxHandshakesPerClient: 8);
        var random = new Random(11);
        var open = new List<Handshake>();
        var evicted = 0;
        for (var i = 0; i < 5000; i++)
        {
            var source = new IPEndPoint(new IPAddress([192, 0, 2, (byte)random.Next(1, 20)]), 1000 + i);
            if (admission.TryAdmit(source, limits, null, out var handshake) is null)
            {
                open.Add(handshake!);
            }

            Assert.True(admission.Handshakes <= 50);
            if (open.Count > 0 && random.Next(3) == 0)
            {
                var index = random.Next(open.Count);
                evicted += admission.HandshakeDone(open[index]) ? 0 : 1;
                open.RemoveAt(index);
                admission.ConnectionClosed();
            }
        }

        foreach (var handshake in open)
        {
            evicted += admission.HandshakeDone(handshake) ? 0 : 1;
            admission.ConnectionClosed();
        }

        Assert.True(evicted > 0);
        Assert.Equal(0, admission.Handshakes);
        Assert.Equal(0, admission.Connections);
        Assert.Equal(0, admission.Sources);
    }

    [Fact]
    public void TryAdmit_ZeroLimits_MeanNoLimit()
    {
        var admission = new Admission();
        for (var i = 0; i < 1000; i++)
        {
            Admit(admission, Client, AdmissionLimits.None);
        }

        Assert.Equal(1000, admission.Connections);
        Assert.Equal(1000, admission.HandshakesFrom(Client.Address));
    }

    [Fact]
    public void TryAdmit_SourceOutsideAllowedClients_IsRefused()
    {
        var admission = new Admission();
        var limits = new AdmissionLimits(new NetworkSet([IpNetwork.Parse("203.0.113.0/24")]), 0, 0);
        Assert.Contains("allowedClients", admission.TryAdmit(Client, limits, null, out _), StringComparison.Ordinal);
        Admit(admission, new IPEndPoint(IPAddress.Parse("203.0.113.9"), 1), limits);
        Assert.Equal(1, admission.Connections);
    }

    [Fact]
    public void TryAdmit_AfterClose_RefusesUntilReopened()
    {
        var admission = new Admission();
        admission.Close();
        Assert.Equal("shutting down", admission.TryAdmit(Client, AdmissionLimits.None, null, out _));
        admission.Reopen();
        Admit(admission, Client, AdmissionLimits.None);
    }
}
