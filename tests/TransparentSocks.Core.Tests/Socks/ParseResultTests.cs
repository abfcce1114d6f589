using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class ParseResultTests
{
    [Fact]
    public void NeedMore_HaveAndTotal_NeedsTheDifference()
    {
        var result = ParseResult<int>.NeedMore(3, 10);
        Assert.True(result.NeedsMoreData);
        Assert.Equal(7, result.Needed);
        Assert.Equal(0, result.Consumed);
    }

    [Fact]
    public void NeedMore_NothingOrLess_StillAsksForOneByte()
    {
        Assert.Equal(1, ParseResult<int>.NeedMore(0).Needed);
        Assert.Equal(1, ParseResult<int>.NeedMore(5, 5).Needed);
    }

    [Fact]
    public void Done_ReportsConsumedAndNeedsNothing()
    {
        var result = ParseResult<int>.Done(42, 6);
        Assert.Equal(6, result.Consumed);
        Assert.Equal(0, result.Needed);
        Assert.Equal(42, result.Value);
    }

    [Fact]
    public void Invalid_NeedsAndConsumesNothing()
    {
        var result = ParseResult<int>.Invalid(Socks5ParseError.BadVersion);
        Assert.Equal(0, result.Needed);
        Assert.Equal(0, result.Consumed);
    }

    /// <summary>
    /// For every valid message of every parser and each of its proper prefixes, the bytes asked for never reach
    /// past the message's end: a byte-exact reader can rely on Needed.
    /// </summary>
    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Needed_EveryPrefixOfAValidMessage_NeverReachesPastItsEnd(string name)
    {
        var (kind, bytes) = Valid[name];
        for (var length = 0; length < bytes.Length; length++)
        {
            var needed = Needed(kind, bytes.AsSpan(0, length));
            Assert.InRange(needed, 1, bytes.Length - length);
        }
    }

    /// <summary>Reading exactly what Needed says, from nothing, ends on the message's last byte.</summary>
    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(Socks5TestMessages))]
    public void Needed_FollowedFromEmpty_ReadsTheWholeMessageAndNoMore(string name)
    {
        var (kind, bytes) = Valid[name];
        var have = 0;
        while (Parse(kind, bytes.AsSpan(0, have)).Status == ParseStatus.NeedMoreData)
        {
            have += Needed(kind, bytes.AsSpan(0, have));
            Assert.True(have <= bytes.Length, $"asked for {have - bytes.Length} byte(s) past the message");
        }

        Assert.Equal(bytes.Length, have);
        Assert.Equal(bytes.Length, Parse(kind, bytes.AsSpan(0, have)).Consumed);
    }

    private static int Needed(MessageKind kind, ReadOnlySpan<byte> input) => kind switch
    {
        MessageKind.Greeting => Socks5Codec.ParseGreeting(input).Needed,
        MessageKind.UsernamePassword => Socks5Codec.ParseUsernamePassword(input).Needed,
        MessageKind.Request => Socks5Codec.ParseRequest(input).Needed,
        MessageKind.MethodSelection => Socks5Codec.ParseMethodSelection(input).Needed,
        MessageKind.AuthReply => Socks5Codec.ParseAuthReply(input).Needed,
        MessageKind.Reply => Socks5Codec.ParseReply(input).Needed,
        MessageKind.UdpHeader => Socks5Codec.ParseUdpHeader(input).Needed,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
