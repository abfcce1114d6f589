using TransparentSocks.Engine.Dialing;
using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Tests.Dialing;

[Trait("Category", "Unit")]
public sealed class DialErrorTests
{
    [Theory]
    [InlineData(DialError.None, Socks5ReplyCode.Succeeded)]
    [InlineData(DialError.Denied, Socks5ReplyCode.NotAllowedByRuleset)]
    [InlineData(DialError.ResolveFailed, Socks5ReplyCode.HostUnreachable)]
    [InlineData(DialError.Refused, Socks5ReplyCode.ConnectionRefused)]
    [InlineData(DialError.NetworkUnreachable, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(DialError.HostUnreachable, Socks5ReplyCode.HostUnreachable)]
    [InlineData(DialError.TimedOut, Socks5ReplyCode.TtlExpired)]
    [InlineData(DialError.UpstreamUnavailable, Socks5ReplyCode.GeneralFailure)]
    [InlineData(DialError.UpstreamAuthFailed, Socks5ReplyCode.GeneralFailure)]
    [InlineData(DialError.UpstreamProtocolError, Socks5ReplyCode.GeneralFailure)]
    [InlineData(DialError.ResourceExhausted, Socks5ReplyCode.GeneralFailure)]
    [InlineData(DialError.Other, Socks5ReplyCode.GeneralFailure)]
    public void ToReplyCode_EachError_GivesTheRfc1928CodeAClientCanActOn(DialError error, Socks5ReplyCode expected)
        => Assert.Equal(expected, error.ToReplyCode());

    /// <summary>In a chain, the upstream's own answer is the most precise one the client can get.</summary>
    [Theory]
    [InlineData(Socks5ReplyCode.ConnectionRefused)]
    [InlineData(Socks5ReplyCode.NotAllowedByRuleset)]
    [InlineData(Socks5ReplyCode.TtlExpired)]
    public void ToReplyCode_UpstreamRejected_PassesTheUpstreamsCodeOn(Socks5ReplyCode upstream)
        => Assert.Equal(upstream, DialError.UpstreamRejected.ToReplyCode(upstream));

    [Fact]
    public void ToReplyCode_EveryFailure_IsAFailureCode()
    {
        foreach (var error in Enum.GetValues<DialError>().Where(e => e != DialError.None))
        {
            Assert.NotEqual(Socks5ReplyCode.Succeeded, error.ToReplyCode());
        }
    }

    [Fact]
    public void ToReason_EveryError_IsADistinctLabelSafeName()
    {
        var reasons = Enum.GetValues<DialError>().Select(e => e.ToReason()).ToList();
        Assert.Equal(reasons.Count, reasons.Distinct(StringComparer.Ordinal).Count());
        Assert.All(reasons, r => Assert.Matches("^[a-z_]+$", r));
    }
}
