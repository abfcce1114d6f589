using System.Text;
using TransparentSocks.Sniffing;

namespace TransparentSocks.Core.Tests.Sniffing;

/// <summary>
/// Seeded, bounded random loops over <see cref="Sniffer.Sniff"/>: a failure names its seed and iteration, and rerunning
/// reproduces it.
/// </summary>
[Trait("Category", "Unit")]
public class SnifferPropertyTests
{
    private const int MutationIterations = 20_000;
    private const int GeneratedIterations = 1_000;

    private static readonly string[] Labels = ["www", "api", "Example", "cdn-1", "xn--bcher-kva", "a", "test", "COM", "net", "io"];

    private static readonly string[] Methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND", "M-SEARCH"];

    [Fact]
    public void Sniff_MutatedHellosAndRequests_NeverThrowAndOnlyEverFindValidNames()
    {
        var random = new Random(1201);
        var seeds = Seeds();
        var outcomes = new Dictionary<(SniffStatus, SniffedProtocol, bool), int>();
        for (var i = 0; i < MutationIterations; i++)
        {
            var input = Mutate(random, seeds[random.Next(seeds.Count)]);

            var result = Sniffer.Sniff(input);

            AssertCoherent(result, input, $"iteration {i}");
            var key = (result.Status, result.Protocol, result.Name is not null);
            outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
        }

        // The mutations must reach every outcome, or the loop only proves the first checks work.
        var seen = string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key}={o.Value}"));
        foreach (var (status, protocol, named) in new[]
        {
            (SniffStatus.Found, SniffedProtocol.Tls, true), (SniffStatus.Found, SniffedProtocol.Tls, false),
            (SniffStatus.Found, SniffedProtocol.Http, true), (SniffStatus.Found, SniffedProtocol.Http, false),
            (SniffStatus.NeedMoreData, SniffedProtocol.Tls, false), (SniffStatus.NeedMoreData, SniffedProtocol.Http, false),
            (SniffStatus.NotThisProtocol, SniffedProtocol.None, false),
        })
        {
            Assert.True(outcomes.GetValueOrDefault((status, protocol, named)) >= MutationIterations / 200, seen);
        }
    }

    [Fact]
    public void Sniff_AnAnswerOnAPrefix_IsTheAnswerOnTheWhole()
    {
        // A caller stops sniffing at the first Found or NotThisProtocol; more bytes must not have changed its mind.
        var random = new Random(1202);
        var seeds = Seeds();
        for (var i = 0; i < MutationIterations / 4; i++)
        {
            var input = random.Next(4) == 0 ? seeds[random.Next(seeds.Count)] : Mutate(random, seeds[random.Next(seeds.Count)]);
            var cut = random.Next(input.Length + 1);

            var early = Sniffer.Sniff(input.AsSpan(0, cut));
            var whole = Sniffer.Sniff(input);

            if (!early.NeedsMoreData)
            {
                Assert.True(early.Status == whole.Status, $"iteration {i}: {early} on {cut} bytes, {whole} on {input.Length}");
                Assert.Equal(early.Protocol, whole.Protocol);
                Assert.Equal(early.Name, whole.Name);
                Assert.Equal(early.NameError, whole.NameError);
            }
        }
    }

    [Fact]
    public void Sniff_RandomBytes_NeverThrow()
    {
        var random = new Random(1203);
        for (var i = 0; i < MutationIterations; i++)
        {
            var input = new byte[random.Next(600)];
            random.NextBytes(input);
            if (input.Length > 0 && random.Next(2) == 0)
            {
                // Past the first byte, so that the random part lands in lengths and fields.
                input[0] = random.Next(2) == 0 ? (byte)22 : (byte)'G';
            }

            AssertCoherent(Sniffer.Sniff(input), input, $"iteration {i}");
        }
    }

    [Fact]
    public void Sniff_GeneratedClientHellos_FindTheirNameInAnyRecordSplit()
    {
        var random = new Random(1204);
        for (var i = 0; i < GeneratedIterations; i++)
        {
            var name = RandomName(random);
            var builder = new ClientHelloBuilder();
            for (var e = random.Next(6); e > 0; e--)
            {
                var type = random.Next(3) == 0 ? (ushort)(0x0a0a + (0x1010 * random.Next(16))) : (ushort)random.Next(1, 0xffff);
                if (type != 0xfe0d)
                {
                    builder.Add(type, new byte[random.Next(300)]);
                }
            }

            builder.Extensions!.Insert(random.Next(builder.Extensions.Count + 1), (0, ClientHelloBuilder.ServerNameList((0, Encoding.ASCII.GetBytes(name)))));
            builder.CipherSuites.Insert(random.Next(builder.CipherSuites.Count + 1), ClientHelloBuilder.Grease);
            var message = builder.Message();
            var cuts = Enumerable.Range(0, random.Next(4)).Select(_ => random.Next(1, message.Length)).ToArray();
            var bytes = ClientHelloBuilder.Records(message, 0x0301, cuts);

            var result = Sniffer.Sniff(bytes);

            Assert.True(result.IsFound, $"iteration {i}: {result}");
            Assert.Equal(SniffedProtocol.Tls, result.Protocol);
            Assert.Equal(name.ToLowerInvariant(), result.Name);
            AssertEveryPrefixNeedsMoreData(bytes, $"iteration {i}");
        }
    }

    [Fact]
    public void Sniff_GeneratedHttpRequests_FindTheirHostInEveryForm()
    {
        var random = new Random(1205);
        for (var i = 0; i < GeneratedIterations; i++)
        {
            var name = RandomName(random);
            var authority = random.Next(2) == 0 ? name : $"{name}:{random.Next(1, 65536)}";
            var absolute = random.Next(4) == 0;
            var head = new StringBuilder();
            head.Append(Methods[random.Next(Methods.Length)]).Append(' ')
                .Append(absolute ? $"http://{authority}/p?q={i}" : $"/path/{i}?x=y").Append(" HTTP/1.").Append(random.Next(2)).Append("\r\n");
            var hostAt = random.Next(4);
            for (var h = 0; h < 4; h++)
            {
                if (h == hostAt && (!absolute || random.Next(2) == 0))
                {
                    head.Append(RandomCase(random, "host")).Append(':').Append(random.Next(2) == 0 ? " " : "\t ").Append(authority).Append(random.Next(2) == 0 ? "" : " ").Append("\r\n");
                }

                head.Append("X-Header-").Append(h).Append(": value ").Append(random.Next()).Append("\r\n");
            }

            var bytes = Encoding.ASCII.GetBytes(head.Append("\r\n").ToString());

            var result = Sniffer.Sniff(bytes);

            Assert.True(result.IsFound, $"iteration {i}: {result} for {head}");
            Assert.Equal(SniffedProtocol.Http, result.Protocol);
            Assert.Equal(name.ToLowerInvariant(), result.Name);
            AssertEveryPrefixNeedsMoreData(bytes, $"iteration {i}");
        }
    }

    private static void AssertCoherent(SniffResult result, byte[] input, string where)
    {
        switch (result.Status)
        {
            case SniffStatus.Found:
                Assert.NotEqual(SniffedProtocol.None, result.Protocol);
                if (result.Name is null)
                {
                    Assert.NotEqual(SniffedNameError.None, result.NameError);
                }
                else
                {
                    Assert.Equal(SniffedNameError.None, result.NameError);
                    Assert.Equal(SniffedNameError.None, SniffedName.Validate(Encoding.ASCII.GetBytes(result.Name)));
                    Assert.Equal(result.Name.ToLowerInvariant(), result.Name);
                }

                break;
            case SniffStatus.NeedMoreData:
                Assert.True(result.Needed >= 1, where);
                Assert.True(input.Length < Sniffer.MaxInputLength, $"{where}: still waiting after {input.Length} bytes");
                Assert.Null(result.Name);
                break;
            case SniffStatus.NotThisProtocol:
                Assert.Equal(SniffedProtocol.None, result.Protocol);
                Assert.Null(result.Name);
                break;
            default:
                Assert.Fail($"{where}: status {result.Status}");
                break;
        }
    }

    private static void AssertEveryPrefixNeedsMoreData(byte[] bytes, string where)
    {
        for (var length = 0; length < bytes.Length; length++)
        {
            var result = Sniffer.Sniff(bytes.AsSpan(0, length));
            Assert.True(result.NeedsMoreData, $"{where}: prefix of {length}/{bytes.Length} gave {result}");
            Assert.InRange(result.Needed, 1, bytes.Length - length);
        }
    }

    private static List<byte[]> Seeds()
    {
        var seeds = Captures.ExpectedNames.Keys.Select(Captures.Read).ToList();
        seeds.Add(ClientHelloBuilder.WithServerName("split.example").AddTls13().BuildSplit(7, 30));
        seeds.Add(ClientHelloBuilder.WithServerName("ech.example").AddTls13().Add(0xfe0d, new byte[90]).Build());
        seeds.Add(new ClientHelloBuilder { Extensions = null }.Build());
        seeds.Add("GET / HTTP/1.1\r\nHost: seed.example:8080\r\nAccept: */*\r\n\r\n"u8.ToArray());
        seeds.Add("GET http://abs.example/x HTTP/1.0\r\n\r\n"u8.ToArray());
        seeds.Add("CONNECT c.example:443 HTTP/1.1\r\nHost: c.example:443\r\n\r\n"u8.ToArray());
        seeds.Add("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"u8.ToArray());
        return seeds;
    }

    /// <summary>One to four edits of the kinds that break parsers: a byte changed, bytes cut, inserted or repeated.</summary>
    private static byte[] Mutate(Random random, byte[] seed)
    {
        var bytes = new List<byte>(seed);
        for (var edits = random.Next(1, 5); edits > 0 && bytes.Count > 0; edits--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes[at] = random.Next(2) == 0 ? (byte)0 : (byte)0xff;
                    break;
                case 2:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 3:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at));
                    break;
                case 4:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 5:
                    bytes.InsertRange(at, bytes.GetRange(at, Math.Min(random.Next(1, 64), bytes.Count - at)));
                    break;
                default:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
        }

        return [.. bytes];
    }

    private static string RandomName(Random random)
        => string.Join('.', Enumerable.Range(0, random.Next(1, 5)).Select(_ => Labels[random.Next(Labels.Length)]).Append("example"));

    private static string RandomCase(Random random, string text)
        => new([.. text.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : c)]);
}
