using System.Text;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

[Trait("Category", "Unit")]
public class SniffedNameTests
{
    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("WWW.Example.COM", "www.example.com")]
    [InlineData("example.com.", "example.com")]
    [InlineData("localhost", "localhost")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    [InlineData("a-b.c-d.e1", "a-b.c-d.e1")]
    [InlineData("1password.com", "1password.com")]
    [InlineData("123.example", "123.example")]
    [InlineData("0xdead.example", "0xdead.example")]
    public void TryNormalize_HostName_IsAcceptedLowerCasedWithoutTrailingDot(string name, string expected)
    {
        Assert.True(SniffedName.TryNormalize(Encoding.ASCII.GetBytes(name), out var fromBytes, out var error));
        Assert.True(SniffedName.TryNormalize(name, out var fromString, out _));
        Assert.Equal(SniffedNameError.None, error);
        Assert.Equal(expected, fromBytes);
        Assert.Equal(expected, fromString);
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("192.0.2.1.")]
    [InlineData("127.1")]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("0x7f.0.0.0x1")]
    [InlineData("example.123")]
    [InlineData("::1")]
    [InlineData("2001:db8::1")]
    [InlineData("[2001:db8::1]")]
    [InlineData("[::ffff:192.0.2.1]")]
    [InlineData("::ffff:192.0.2.1")]
    public void Validate_IpLiteral_IsRefused(string name)
        => Assert.Equal(SniffedNameError.IpLiteral, SniffedName.Validate(Encoding.ASCII.GetBytes(name)));

    [Theory]
    [InlineData("", SniffedNameError.Empty)]
    [InlineData(".", SniffedNameError.Empty)]
    [InlineData("..", SniffedNameError.EmptyLabel)]
    [InlineData(".example.com", SniffedNameError.EmptyLabel)]
    [InlineData("a..example", SniffedNameError.EmptyLabel)]
    [InlineData("example.com..", SniffedNameError.EmptyLabel)]
    [InlineData("under_score.example", SniffedNameError.BadCharacter)]
    [InlineData("space here.example", SniffedNameError.BadCharacter)]
    [InlineData("host\r\nx.example", SniffedNameError.BadCharacter)]
    [InlineData("slash/.example", SniffedNameError.BadCharacter)]
    [InlineData("star*.example", SniffedNameError.BadCharacter)]
    [InlineData("-lead.example", SniffedNameError.BadHyphen)]
    [InlineData("trail-.example", SniffedNameError.BadHyphen)]
    public void Validate_NotAHostName_IsRefusedWithTheReason(string name, SniffedNameError expected)
        => Assert.Equal(expected, SniffedName.Validate(Encoding.ASCII.GetBytes(name)));

    [Fact]
    public void Validate_NonAsciiBytes_AreBadCharacters()
    {
        Assert.Equal(SniffedNameError.BadCharacter, SniffedName.Validate("bücher.example"u8));
        Assert.Equal(SniffedNameError.BadCharacter, SniffedName.Validate([(byte)'a', 0, (byte)'b']));
        Assert.False(SniffedName.TryNormalize("bücher.example", out _, out var error));
        Assert.Equal(SniffedNameError.BadCharacter, error);
    }

    [Fact]
    public void Validate_Lengths_AreThoseOfDns()
    {
        var label63 = new string('a', 63);
        var name253 = string.Join('.', label63, label63, label63, new string('b', 61));

        Assert.Equal(SniffedNameError.None, SniffedName.Validate(Encoding.ASCII.GetBytes(label63 + ".example")));
        Assert.Equal(SniffedNameError.LabelTooLong, SniffedName.Validate(Encoding.ASCII.GetBytes(label63 + "a.example")));
        Assert.Equal(253, name253.Length);
        Assert.Equal(SniffedNameError.None, SniffedName.Validate(Encoding.ASCII.GetBytes(name253)));
        Assert.Equal(SniffedNameError.None, SniffedName.Validate(Encoding.ASCII.GetBytes(name253 + ".")));
        Assert.Equal(SniffedNameError.TooLong, SniffedName.Validate(Encoding.ASCII.GetBytes(name253 + "b")));
        Assert.Equal(SniffedNameError.TooLong, SniffedName.Validate(Encoding.ASCII.GetBytes(new string('a', 5000))));
        Assert.False(SniffedName.TryNormalize(new string('a', 5000), out _, out var error));
        Assert.Equal(SniffedNameError.TooLong, error);
        Assert.True(SniffedName.TryNormalize(name253 + ".", out var normalized, out _));
        Assert.Equal(name253, normalized);
    }
}
