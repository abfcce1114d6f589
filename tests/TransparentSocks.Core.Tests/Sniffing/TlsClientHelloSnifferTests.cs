using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

[Trait("Category", "Unit")]
public class TlsClientHelloSnifferTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(200)]
    public void Sniff_HelloThatCannotEndWithinMaxRecords_IsRefusedOnceTheLastRecordIsIn_NeverWaitedOnPastTheCap(int bytesPerRecord)
    {
        // A 16 KiB hello dribbled out in tiny records: the last record allowed ends before the hello does.
        var records = new List<byte>();
        byte[] header = [0x01, 0x00, 0x40, 0x00];
        for (var i = 0; i < TlsClientHelloSniffer.MaxRecords; i++)
        {
            var payload = new List<byte>();
            if (i == 0)
            {
                payload.AddRange(header);
            }

            payload.AddRange(new byte[bytesPerRecord]);
            records.AddRange([22, 3, 1, (byte)(payload.Count >> 8), (byte)payload.Count]);
            records.AddRange(payload);
        }

        var input = records.ToArray();
        Assert.Equal(SniffStatus.NotThisProtocol, TlsClientHelloSniffer.Sniff(input).Status);
        for (var length = 0; length < input.Length; length++)
        {
            var result = TlsClientHelloSniffer.Sniff(input.AsSpan(0, length));
            Assert.True(result.IsNotThisProtocol || (result.NeedsMoreData && length + result.Needed <= Sniffer.MaxInputLength), $"{length} bytes: {result}");
        }
    }

    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void Sniff_Capture_FindsItsServerName(string file)
    {
        var result = TlsClientHelloSniffer.Sniff(Captures.Read(file));

        Assert.Equal(SniffStatus.Found, result.Status);
        Assert.Equal(SniffedProtocol.Tls, result.Protocol);
        Assert.Equal(Captures.ExpectedNames[file], result.Name);
        Assert.Equal(result.Name is null ? SniffedNameError.Missing : SniffedNameError.None, result.NameError);
        Assert.False(result.EncryptedClientHello);
    }

    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void Sniff_EveryProperPrefixOfCapture_NeedsMoreDataNeverPastTheEnd(string file)
    {
        var bytes = Captures.Read(file);
        for (var length = 0; length < bytes.Length; length++)
        {
            var result = TlsClientHelloSniffer.Sniff(bytes.AsSpan(0, length));

            Assert.True(result.NeedsMoreData, $"prefix of {length}/{bytes.Length} bytes gave {result}");
            Assert.Equal(SniffedProtocol.Tls, result.Protocol);
            Assert.InRange(result.Needed, 1, bytes.Length - length);
        }
    }

    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void Sniff_CaptureArrivingInTwoSegmentsSplitAtEveryByte_FindsTheNameOnlyWithTheSecond(string file)
    {
        var bytes = Captures.Read(file);
        for (var split = 1; split < bytes.Length; split++)
        {
            // What a caller does: sniff what the first segment brought, then the buffer grown by the second.
            var first = TlsClientHelloSniffer.Sniff(bytes.AsSpan(0, split));
            var both = TlsClientHelloSniffer.Sniff(bytes);

            Assert.True(first.NeedsMoreData, $"first {split} bytes gave {first}");
            Assert.True(both.IsFound);
            Assert.Equal(Captures.ExpectedNames[file], both.Name);
        }
    }

    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void Sniff_CaptureReframedIntoTwoRecordsAtEveryOffset_FindsTheName(string file)
    {
        var message = ClientHelloBuilder.MessageOf(Captures.Read(file));
        for (var cut = 1; cut < message.Length; cut++)
        {
            var records = ClientHelloBuilder.Records(message, 0x0301, cut);

            var result = TlsClientHelloSniffer.Sniff(records);

            Assert.True(result.IsFound, $"records of {cut} and {message.Length - cut} gave {result}");
            Assert.Equal(Captures.ExpectedNames[file], result.Name);
        }
    }

    [Fact]
    public void Sniff_HelloSplitAcrossRecords_EveryPrefixNeedsMoreDataWithinWhatIsLeft()
    {
        var bytes = ClientHelloBuilder.WithServerName("split.example").AddTls13().BuildSplit(2, 3, 40, 1);

        for (var length = 0; length < bytes.Length; length++)
        {
            var result = TlsClientHelloSniffer.Sniff(bytes.AsSpan(0, length));

            Assert.True(result.NeedsMoreData, $"prefix of {length}/{bytes.Length} bytes gave {result}");
            Assert.InRange(result.Needed, 1, bytes.Length - length);
        }

        Assert.Equal("split.example", TlsClientHelloSniffer.Sniff(bytes).Name);
    }

    [Fact]
    public void Sniff_HelloInOneByteRecordsBeyondTheCap_IsNotThisProtocol()
    {
        var message = ClientHelloBuilder.WithServerName("many.example").Message();
        var fits = ClientHelloBuilder.Records(message, 0x0301, [.. Enumerable.Repeat(1, TlsClientHelloSniffer.MaxRecords - 1)]);
        var tooMany = ClientHelloBuilder.Records(message, 0x0301, [.. Enumerable.Repeat(1, TlsClientHelloSniffer.MaxRecords)]);

        Assert.Equal("many.example", TlsClientHelloSniffer.Sniff(fits).Name);
        Assert.True(TlsClientHelloSniffer.Sniff(tooMany).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_GreaseEverywhere_FindsTheName()
    {
        var builder = ClientHelloBuilder.WithServerName("grease.example");
        builder.CipherSuites.Insert(0, ClientHelloBuilder.Grease);
        builder.Extensions!.Insert(0, (0x0a0a, []));
        builder.Add(0x002b, [6, 0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03]);
        builder.Add(0x000a, [0, 4, 0x3a, 0x3a, 0x00, 0x1d]);
        builder.Add(0xfafa, [0]);

        var result = TlsClientHelloSniffer.Sniff(builder.Build());

        Assert.Equal("grease.example", result.Name);
    }

    [Fact]
    public void Sniff_UnknownAndUnusualExtensions_AreSkipped()
    {
        var builder = new ClientHelloBuilder()
            .Add(0xff01, [0])
            .Add(0x1234, new byte[3000])
            .Add(0x0015, new byte[200])
            .Add(0xffff, [])
            .AddServerName("unusual.example")
            .Add(0x0029, new byte[50]);

        Assert.Equal("unusual.example", TlsClientHelloSniffer.Sniff(builder.Build()).Name);
    }

    [Fact]
    public void Sniff_EncryptedClientHello_ReturnsTheOuterNameAndSaysSo()
    {
        var builder = ClientHelloBuilder.WithServerName("public.example").AddTls13().Add(0xfe0d, [0, .. new byte[180]]);

        var result = TlsClientHelloSniffer.Sniff(builder.Build());

        Assert.Equal("public.example", result.Name);
        Assert.True(result.EncryptedClientHello);
    }

    [Theory]
    [InlineData(0x0301, 0x0301)]
    [InlineData(0x0303, 0x0303)]
    [InlineData(0x0302, 0x0301)]
    [InlineData(0x0304, 0x0303)]
    public void Sniff_RecordAndHelloVersionsOfTls10To13_FindTheName(int recordVersion, int legacyVersion)
    {
        var builder = ClientHelloBuilder.WithServerName("versions.example");
        builder.RecordVersion = (ushort)recordVersion;
        builder.LegacyVersion = (ushort)legacyVersion;

        Assert.Equal("versions.example", TlsClientHelloSniffer.Sniff(builder.Build()).Name);
    }

    [Theory]
    [InlineData(0x0300)]
    [InlineData(0x0305)]
    [InlineData(0x0203)]
    public void Sniff_RecordVersionOutsideTls10To13_IsNotThisProtocolFromItsHeader(int recordVersion)
    {
        var builder = ClientHelloBuilder.WithServerName("versions.example");
        builder.RecordVersion = (ushort)recordVersion;

        Assert.True(TlsClientHelloSniffer.Sniff(builder.Build().AsSpan(0, 3)).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_NoExtensionsAtAll_IsFoundWithoutAName()
    {
        var builder = new ClientHelloBuilder { Extensions = null, SessionId = [] };

        var result = TlsClientHelloSniffer.Sniff(builder.Build());

        Assert.True(result.IsFound);
        Assert.Null(result.Name);
        Assert.Equal(SniffedNameError.Missing, result.NameError);
    }

    [Fact]
    public void Sniff_OnlyANonHostNameEntry_IsFoundWithoutAName()
    {
        var builder = new ClientHelloBuilder().Add(0, ClientHelloBuilder.ServerNameList((7, [1, 2, 3])));

        Assert.Equal(SniffedNameError.Missing, TlsClientHelloSniffer.Sniff(builder.Build()).NameError);
    }

    [Theory]
    [InlineData("192.0.2.1", SniffedNameError.IpLiteral)]
    [InlineData("under_score.example", SniffedNameError.BadCharacter)]
    [InlineData("a..b", SniffedNameError.EmptyLabel)]
    public void Sniff_ServerNameThatIsNoHostName_IsFoundWithTheReasonAndNoName(string name, SniffedNameError error)
    {
        var result = TlsClientHelloSniffer.Sniff(ClientHelloBuilder.WithServerName(name).Build());

        Assert.True(result.IsFound);
        Assert.Null(result.Name);
        Assert.Equal(error, result.NameError);
    }

    [Fact]
    public void Sniff_TrailingDotInServerName_IsDropped()
        => Assert.Equal("dot.example", TlsClientHelloSniffer.Sniff(ClientHelloBuilder.WithServerName("Dot.Example.").Build()).Name);

    [Fact]
    public void Sniff_BytesAfterTheHello_AreLeftAlone()
    {
        var hello = ClientHelloBuilder.WithServerName("trailing.example").Build();
        byte[] changeCipherSpec = [20, 3, 3, 0, 1, 1];

        Assert.Equal("trailing.example", TlsClientHelloSniffer.Sniff([.. hello, .. changeCipherSpec, 0xff, 0xff]).Name);
    }

    [Fact]
    public void Sniff_TwoServerNameExtensions_IsNotThisProtocol()
    {
        var builder = ClientHelloBuilder.WithServerName("one.example").AddServerName("two.example");

        Assert.True(TlsClientHelloSniffer.Sniff(builder.Build()).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_TwoHostNamesInOneList_IsNotThisProtocol()
    {
        var builder = new ClientHelloBuilder().Add(0, ClientHelloBuilder.ServerNameList((0, "a.example"u8.ToArray()), (0, "b.example"u8.ToArray())));

        Assert.True(TlsClientHelloSniffer.Sniff(builder.Build()).IsNotThisProtocol);
    }

    [Theory]
    [InlineData(new byte[] { 0x17 })]
    [InlineData(new byte[] { 0x16, 0x02 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x00 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x40, 0x01 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x10, 0x02 })]
    [InlineData(new byte[] { 0x16, 0x03, 0x01, 0x00, 0x10, 0x01, 0x00, 0x40, 0x01 })]
    public void Sniff_ImpossibleOpening_IsNotThisProtocolAtOnce(byte[] input)
        => Assert.True(TlsClientHelloSniffer.Sniff(input).IsNotThisProtocol);

    [Fact]
    public void Sniff_RecordOfAnotherTypeBeforeTheHelloEnds_IsNotThisProtocol()
    {
        var bytes = ClientHelloBuilder.WithServerName("interleaved.example").BuildSplit(10);
        var first = bytes[..15];
        byte[] alert = [21, 3, 3, 0, 2, 1, 0];

        Assert.True(TlsClientHelloSniffer.Sniff([.. first, .. alert, .. bytes[15..]]).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_ExtensionLengthsThatDoNotAddUp_AreNotThisProtocol()
    {
        var bytes = ClientHelloBuilder.WithServerName("lengths.example").Build();

        // The last extension's length, one more than the block holds: the block then ends inside it.
        var broken = (byte[])bytes.Clone();
        var sniAt = Array.IndexOf(broken, (byte)'l') - 9;
        broken[sniAt + 3]++;

        Assert.True(TlsClientHelloSniffer.Sniff(broken).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_HelloLongerThanTheCap_IsNotThisProtocolFromItsHeader()
    {
        byte[] header = [22, 3, 1, 0x40, 0x00, 1, 0x00, 0x40, 0x01];

        Assert.True(TlsClientHelloSniffer.Sniff(header).IsNotThisProtocol);
    }

    [Fact]
    public void Sniff_HelloOfTheMaximalLength_IsRead()
    {
        var builder = ClientHelloBuilder.WithServerName("big.example");
        var overhead = builder.Message().Length - 4 + 4;
        builder.Add(0x1234, new byte[TlsClientHelloSniffer.MaxClientHelloLength - overhead]);
        var message = builder.Message();

        var bytes = ClientHelloBuilder.Records(message, 0x0301, TlsClientHelloSniffer.MaxRecordLength);

        Assert.Equal(TlsClientHelloSniffer.MaxClientHelloLength + 4, message.Length);
        Assert.Equal("big.example", TlsClientHelloSniffer.Sniff(bytes).Name);
    }
}
