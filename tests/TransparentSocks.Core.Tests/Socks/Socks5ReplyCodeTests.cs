using System.Net.Sockets;
using TransparentSocks.Socks;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5ReplyCodeTests
{
    [Theory]
    [InlineData(SocketError.NetworkUnreachable, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(SocketError.NetworkDown, Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(SocketError.HostUnreachable, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.HostDown, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.HostNotFound, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.TryAgain, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.NoData, Socks5ReplyCode.HostUnreachable)]
    [InlineData(SocketError.ConnectionRefused, Socks5ReplyCode.ConnectionRefused)]
    [InlineData(SocketError.TimedOut, Socks5ReplyCode.TtlExpired)]
    [InlineData(SocketError.AccessDenied, Socks5ReplyCode.NotAllowedByRuleset)]
    [InlineData(SocketError.AddressFamilyNotSupported, Socks5ReplyCode.AddressTypeNotSupported)]
    [InlineData(SocketError.ConnectionReset, Socks5ReplyCode.GeneralFailure)]
    [InlineData(SocketError.SocketError, Socks5ReplyCode.GeneralFailure)]
    [InlineData(SocketError.Success, Socks5ReplyCode.GeneralFailure)]
    [InlineData(SocketError.OperationAborted, Socks5ReplyCode.GeneralFailure)]
    public void ToReplyCode_SocketError_MapsToRfcReply(SocketError error, Socks5ReplyCode expected)
    {
        Assert.Equal(expected, Socks5Codec.ToReplyCode(error));
    }

    [Fact]
    public void ToReplyCode_EverySocketError_IsAValidReplyCode()
    {
        foreach (var error in Enum.GetValues<SocketError>())
        {
            Assert.True(Enum.IsDefined(Socks5Codec.ToReplyCode(error)), error.ToString());
        }
    }

    [Theory]
    [InlineData(Socks5ParseError.UnknownCommand, Socks5ReplyCode.CommandNotSupported)]
    [InlineData(Socks5ParseError.UnknownAddressType, Socks5ReplyCode.AddressTypeNotSupported)]
    public void ToReplyCode_ParseErrorWithOwnReply_MapsToIt(Socks5ParseError error, Socks5ReplyCode expected)
    {
        Assert.Equal(expected, Socks5Codec.ToReplyCode(error));
    }

    [Fact]
    public void ToReplyCode_OtherParseErrors_AreGeneralFailure()
    {
        var others = Enum.GetValues<Socks5ParseError>()
            .Where(e => e is not Socks5ParseError.UnknownCommand and not Socks5ParseError.UnknownAddressType);

        Assert.All(others, e => Assert.Equal(Socks5ReplyCode.GeneralFailure, Socks5Codec.ToReplyCode(e)));
    }
}
