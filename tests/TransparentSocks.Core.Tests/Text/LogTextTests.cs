using System.Globalization;
using TransparentSocks.Text;

namespace TransparentSocks.Core.Tests.Text;

[Trait("Category", "Unit")]
public sealed class LogTextTests
{
    [Fact]
    public void Escape_EveryCharFrom0To255_ShowsOnlyPrintablesAndEscapesTheRest()
    {
        for (var b = 0; b <= 255; b++)
        {
            var c = (char)b;
            var escaped = LogText.Escape($"a{c}b");
            string expected;
            if (c == '\\')
            {
                expected = @"a\\b";
            }
            else if (b is >= 0x20 and <= 0x7E || b is > 0xA0 and <= 0xFF && b != 0xAD)
            {
                expected = $"a{c}b";
            }
            else
            {
                // C0, DEL, C1, no-break space and soft hyphen: a terminal acts on them, or a reader cannot see them.
                expected = $"a\\x{b.ToString("X2", CultureInfo.InvariantCulture)}b";
            }

            Assert.True(expected == escaped, $"byte 0x{b:X2}: expected '{expected}', got '{escaped}'");
            Assert.DoesNotContain(escaped, ch => ch < ' ' || ch is >= '\u007F' and <= '\u00A0' || ch == '\u00AD');
        }
    }

    [Fact]
    public void Escape_NewlineInUserName_StaysOnOneLine()
    {
        var escaped = LogText.Escape("alice\n2025-01-01 00:00:00.000 [INF] forged line\r\u001b[2J\b");

        Assert.Equal(@"alice\x0A2025-01-01 00:00:00.000 [INF] forged line\x0D\x1B[2J\x08", escaped);
    }

    [Theory]
    [InlineData("\u202Egnp.exe", @"\u202Egnp.exe")]
    [InlineData("a\u2066b\u2069", @"a\u2066b\u2069")]
    [InlineData("zero\u200Bwidth", @"zero\u200Bwidth")]
    [InlineData("line\u2028sep", @"line\u2028sep")]
    [InlineData("\uFEFFbom", @"\uFEFFbom")]
    [InlineData("private\uE000", @"private\uE000")]
    [InlineData("tag\U000E0041", @"tag\U000E0041")]
    public void Escape_InvisibleOrReorderingCharacters_AreEscaped(string text, string expected)
        => Assert.Equal(expected, LogText.Escape(text));

    [Fact]
    public void Escape_LoneSurrogate_IsEscaped()
    {
        // Built at run time: an attribute argument cannot carry a lone surrogate through metadata.
        var text = "lone" + (char)0xD800 + "x" + (char)0xDC00;

        Assert.Equal(@"lone\uD800x\uDC00", LogText.Escape(text));
    }

    [Theory]
    [InlineData("www.example.com:443")]
    [InlineData("[2001:db8::1]:80")]
    [InlineData("Zürich-ü")]
    [InlineData("日本語.jp")]
    [InlineData("smile \U0001F600")]
    public void Escape_PrintableText_IsUnchanged(string text) => Assert.Equal(text, LogText.Escape(text));

    [Fact]
    public void Escape_SafeAsciiText_ReturnsTheSameInstance()
    {
        var text = "session 7: upstream socks5://127.0.0.1:1080 refused";

        Assert.Same(text, LogText.Escape(text));
    }

    [Fact]
    public void Escape_EscapeLookalikeTyped_CannotPassForAnEscape()
        => Assert.Equal(@"user\\x0Aroot", LogText.Escape(@"user\x0Aroot"));

    [Fact]
    public void Escape_Null_IsEmpty() => Assert.Equal(string.Empty, LogText.Escape(null));

    [Fact]
    public void Escape_LongerThanTheBound_IsCutAndSaysHowMuchWasLeftOut()
    {
        var escaped = LogText.Escape(new string('a', LogText.MaxLength + 100));

        Assert.Equal(new string('a', LogText.MaxLength) + "...(100 more)", escaped);
    }

    [Fact]
    public void Escape_AllControls_OutputStaysBounded()
    {
        var escaped = LogText.Escape(new string('\n', 10_000));

        Assert.Equal((LogText.MaxLength * 4) + "...(9488 more)".Length, escaped.Length);
        Assert.DoesNotContain('\n', escaped);
    }
}
