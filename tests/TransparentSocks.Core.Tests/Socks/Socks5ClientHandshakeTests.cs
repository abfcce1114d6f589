using System.Net;
using System.Text;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;
using static TransparentSocks.Core.Tests.Socks.Socks5TestMessages;

namespace TransparentSocks.Core.Tests.Socks;

[Trait("Category", "Unit")]
public class Socks5ClientHandshakeTests
{
    private static readonly Destination Target = Destination.FromAddress(IPAddress.Parse("203.0.113.2"), 80);

    /// <summary>
    /// A byte-exact driver, as the dialer's is: it reads exactly what the handshake asks for from a script of what the
    /// server sent, so a bug that asks for one byte too many shows as bytes taken from past the message.
    /// </summary>
    private sealed class ScriptedServer(byte[] script)
    {
        public int Read { get; private set; }

        public List<byte[]> Sent { get; } = [];

        public int Continued { get; private set; }

        public Socks5ClientStep Run(Socks5ClientHandshake handshake)
        {
            var output = new byte[Socks5ClientHandshake.MaxOutputLength];
            var received = new List<byte>();
            while (true)
            {
                var step = handshake.Feed(received.ToArray(), output);
                switch (step.Status)
                {
                    case Socks5ClientStatus.NeedMoreData:
                        Assert.True(step.Count > 0, "a handshake that needs more must ask for at least one byte");
                        if (Read + step.Count > script.Length)
                        {
                            return step;
                        }

                        received.AddRange(script.AsSpan(Read, step.Count).ToArray());
                        Read += step.Count;
                        break;
                    case Socks5ClientStatus.Send:
                        Sent.Add(output[..step.Count]);
                        received.Clear();
                        break;
                    case Socks5ClientStatus.Continue:
                        // A pipelined answer is consumed whole; nothing is sent for it.
                        Assert.Equal(received.Count, step.Count);
                        Continued++;
                        received.Clear();
                        break;
                    default:
                        return step;
                }
            }
        }
    }

    private static byte[] Greet(Socks5ClientHandshake handshake)
    {
        var output = new byte[Socks5ClientHandshake.MaxOutputLength];
        return output[..handshake.WriteGreeting(output)];
    }

    private static byte[] Request(Socks5ClientHandshake handshake, Destination destination)
    {
        var output = new byte[Socks5ClientHandshake.MaxOutputLength];
        return output[..handshake.WriteRequest(output, Socks5Command.Connect, destination)];
    }

    private static byte[] Pipelined(Socks5ClientHandshake handshake, bool withRequest, Destination destination = default)
    {
        var output = new byte[Socks5ClientHandshake.MaxPipelinedLength];
        return output[..handshake.WritePipelined(output, withRequest, Socks5Command.Connect, destination)];
    }

    [Fact]
    public void Pipelined_WithoutCredentials_SendsAOneMethodGreetingAndTheRequestTogether()
    {
        var handshake = new Socks5ClientHandshake();

        Assert.Equal(Hex("05 01 00 05 01 00 01 CB 00 71 02 00 50"), Pipelined(handshake, withRequest: true, Target));
        Assert.False(handshake.AwaitsReply);
    }

    [Fact]
    public void Pipelined_WithoutCredentials_MethodThenReply_ContinuesOnceThenSucceedsLeavingTrailingBytes()
    {
        var handshake = new Socks5ClientHandshake();
        Pipelined(handshake, withRequest: true, Target);
        var server = new ScriptedServer([.. Hex("05 00 05 00 00 01 CB 00 71 01 04 38"), .. "SSH-2.0"u8.ToArray()]);

        var step = server.Run(handshake);

        Assert.Equal(Socks5ClientStatus.Succeeded, step.Status);
        Assert.Equal(1, server.Continued);
        Assert.Empty(server.Sent);
        Assert.Equal(12, server.Read);
        Assert.Equal(Destination.FromAddress(IPAddress.Parse("203.0.113.1"), 1080), step.Bound);
    }

    [Fact]
    public void Pipelined_WithCredentials_SendsOnlyUsernamePasswordAndTheCredentials_RequestAfterTheirAnswer()
    {
        var handshake = new Socks5ClientHandshake("alice"u8.ToArray(), "s3cret"u8.ToArray());

        var first = Pipelined(handshake, withRequest: true, Target);
        Assert.Equal([0x05, 0x01, 0x02, 0x01, 5, .. "alice"u8.ToArray(), 6, .. "s3cret"u8.ToArray()], first);

        var server = new ScriptedServer(Hex("05 02 01 00"));
        Assert.Equal(Socks5ClientStatus.Authenticated, server.Run(handshake).Status);
        Assert.Equal(1, server.Continued);
        Assert.Empty(server.Sent);
        Assert.Equal(Hex("05 01 00 01 CB 00 71 02 00 50"), Request(handshake, Target));
    }

    [Fact]
    public void Pipelined_WithoutARequest_IsAnOrdinaryGreeting()
    {
        var handshake = new Socks5ClientHandshake();
        Assert.Equal(Hex("05 01 00"), Pipelined(handshake, withRequest: false));
        Assert.Equal(Socks5ClientStatus.Authenticated, new ScriptedServer(Hex("05 00")).Run(handshake).Status);
    }

    [Theory]
    [InlineData("05 FF", false)]
    [InlineData("05 02", false)]
    [InlineData("05 FF", true)]
    [InlineData("05 00", true)]
    public void Pipelined_ServerChoosesAnythingButTheOneMethodOffered_FailsAsNoAcceptableMethod(string selection, bool withCredentials)
    {
        var handshake = withCredentials ? new Socks5ClientHandshake("u"u8.ToArray(), "p"u8.ToArray()) : new Socks5ClientHandshake();
        Pipelined(handshake, withRequest: true, Target);

        var step = new ScriptedServer([.. Hex(selection), .. Hex("05 00 00 01 00 00 00 00 00 00")]).Run(handshake);

        Assert.Equal(Socks5ClientStatus.Failed, step.Status);
        Assert.Equal(Socks5ClientFailure.NoAcceptableMethod, step.Failure);
    }

    [Fact]
    public void Pipelined_CredentialsRefused_FailsAsAuthRefused()
    {
        var handshake = new Socks5ClientHandshake("u"u8.ToArray(), "p"u8.ToArray());
        Pipelined(handshake, withRequest: true, Target);

        var step = new ScriptedServer(Hex("05 02 01 01")).Run(handshake);

        Assert.Equal(Socks5ClientFailure.AuthRefused, step.Failure);
    }

    [Fact]
    public void Pipelined_LongestCredentialsAndName_FitMaxPipelinedLength()
    {
        var longest = new string('a', 255);
        var handshake = new Socks5ClientHandshake(Encoding.ASCII.GetBytes(longest), Encoding.ASCII.GetBytes(longest));
        Assert.Equal(3 + 513, Pipelined(handshake, withRequest: true, Destination.FromHost(longest, 443)).Length);
        Assert.True(Pipelined(new Socks5ClientHandshake(), withRequest: true, Destination.FromHost(longest, 443)).Length <= Socks5ClientHandshake.MaxPipelinedLength);
    }

    [Fact]
    public void Greeting_WithoutCredentials_OffersOnlyNoAuthentication()
        => Assert.Equal(Hex("05 01 00"), Greet(new Socks5ClientHandshake()));

    [Fact]
    public void Greeting_WithCredentials_OffersBothMethods()
        => Assert.Equal(Hex("05 02 00 02"), Greet(new Socks5ClientHandshake("u"u8.ToArray(), "p"u8.ToArray())));

    [Fact]
    public void NoAuthentication_ThenSuccessReply_SucceedsWithTheBoundAddressAndLeavesTrailingBytes()
    {
        var handshake = new Socks5ClientHandshake();
        Greet(handshake);
        var server = new ScriptedServer(Hex("05 00"));
        Assert.Equal(Socks5ClientStatus.Authenticated, server.Run(handshake).Status);
        Assert.Equal(Hex("05 01 00 01 CB 00 71 02 00 50"), Request(handshake, Target));

        // The reply is followed by the destination's first bytes, which must stay unread for the relay.
        var reply = new ScriptedServer([.. Hex("05 00 00 01 CB 00 71 01 04 38"), .. "HTTP/1.1"u8.ToArray()]);
        var step = reply.Run(handshake);
        Assert.Equal(Socks5ClientStatus.Succeeded, step.Status);
        Assert.Equal(10, step.Count);
        Assert.Equal(10, reply.Read);
        Assert.Equal(Destination.FromAddress(IPAddress.Parse("203.0.113.1"), 1080), step.Bound);
    }

    [Fact]
    public void UsernamePassword_SendsCredentialsOnlyAfterTheServerSelectsTheMethod()
    {
        var handshake = new Socks5ClientHandshake("alice"u8.ToArray(), "s3cret"u8.ToArray());
        Greet(handshake);
        var server = new ScriptedServer(Hex("05 02 01 00"));
        var step = server.Run(handshake);
        Assert.Equal(Socks5ClientStatus.Authenticated, step.Status);
        var credentials = Assert.Single(server.Sent);
        Assert.Equal([0x01, 5, .. "alice"u8.ToArray(), 6, .. "s3cret"u8.ToArray()], credentials);
        Assert.True(handshake.IsAuthenticated);
    }

    [Fact]
    public void UsernamePassword_ServerPrefersNoAuthentication_SendsNoCredentials()
    {
        var handshake = new Socks5ClientHandshake("alice"u8.ToArray(), "s3cret"u8.ToArray());
        Greet(handshake);
        var server = new ScriptedServer(Hex("05 00"));
        Assert.Equal(Socks5ClientStatus.Authenticated, server.Run(handshake).Status);
        Assert.Empty(server.Sent);
    }

    [Fact]
    public void UsernamePassword_Refused_FailsAsAuthRefused()
    {
        var handshake = new Socks5ClientHandshake("alice"u8.ToArray(), "wrong"u8.ToArray());
        Greet(handshake);
        var step = new ScriptedServer(Hex("05 02 01 01")).Run(handshake);
        Assert.Equal(Socks5ClientStatus.Failed, step.Status);
        Assert.Equal(Socks5ClientFailure.AuthRefused, step.Failure);
    }

    [Theory]
    [InlineData("05 FF", false)]
    [InlineData("05 02", false)]
    [InlineData("05 01", true)]
    [InlineData("05 80", true)]
    public void MethodSelection_NotOneWeOffered_FailsAsNoAcceptableMethod(string selection, bool withCredentials)
    {
        var handshake = withCredentials ? new Socks5ClientHandshake("u"u8.ToArray(), "p"u8.ToArray()) : new Socks5ClientHandshake();
        Greet(handshake);
        var step = new ScriptedServer(Hex(selection)).Run(handshake);
        Assert.Equal(Socks5ClientStatus.Failed, step.Status);
        Assert.Equal(Socks5ClientFailure.NoAcceptableMethod, step.Failure);
    }

    [Fact]
    public void MethodSelection_WrongVersion_FailsAsProtocolError()
    {
        var handshake = new Socks5ClientHandshake();
        Greet(handshake);
        var step = new ScriptedServer(Hex("04 00")).Run(handshake);
        Assert.Equal(Socks5ClientFailure.Protocol, step.Failure);
        Assert.Equal(Socks5ParseError.BadVersion, step.Error);
    }

    [Theory]
    [InlineData(Socks5ReplyCode.GeneralFailure)]
    [InlineData(Socks5ReplyCode.NotAllowedByRuleset)]
    [InlineData(Socks5ReplyCode.NetworkUnreachable)]
    [InlineData(Socks5ReplyCode.HostUnreachable)]
    [InlineData(Socks5ReplyCode.ConnectionRefused)]
    [InlineData(Socks5ReplyCode.TtlExpired)]
    [InlineData(Socks5ReplyCode.CommandNotSupported)]
    [InlineData(Socks5ReplyCode.AddressTypeNotSupported)]
    public void Reply_FailureCode_FailsAsRejectedWithThatCode(Socks5ReplyCode code)
    {
        var handshake = Socks5ClientHandshake.Resume();
        Request(handshake, Target);
        var step = new ScriptedServer([0x05, (byte)code, .. Hex("00 01 00 00 00 00 00 00")]).Run(handshake);
        Assert.Equal(Socks5ClientStatus.Failed, step.Status);
        Assert.Equal(Socks5ClientFailure.Rejected, step.Failure);
        Assert.Equal(code, step.Reply);
    }

    [Fact]
    public void Reply_FailureWithZeroAddressType_StillReportsItsCode()
    {
        var handshake = Socks5ClientHandshake.Resume();
        Request(handshake, Target);
        var step = new ScriptedServer(Hex("05 05 00 00 00 00 00 00 00 00")).Run(handshake);
        Assert.Equal(Socks5ClientFailure.Rejected, step.Failure);
        Assert.Equal(Socks5ReplyCode.ConnectionRefused, step.Reply);
    }

    [Fact]
    public void Reply_SuccessWithBadAddressType_IsAProtocolErrorNotASuccess()
    {
        var handshake = Socks5ClientHandshake.Resume();
        Request(handshake, Target);
        var step = new ScriptedServer(Hex("05 00 00 07 00 00 00 00 00 00")).Run(handshake);
        Assert.Equal(Socks5ClientStatus.Failed, step.Status);
        Assert.Equal(Socks5ClientFailure.Protocol, step.Failure);
    }

    public static TheoryData<string> Replies => new()
    {
        "05 00 00 01 C6 33 64 01 00 50",
        "05 00 00 04 20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01 1F 90",
        "05 00 00 03 0B 65 78 61 6D 70 6C 65 2E 63 6F 6D 01 BB",
        "05 00 00 03 01 61 00 00",
    };

    /// <summary>Every address type, read byte-exactly: the bytes asked for add up to the reply and never pass it.</summary>
    [Theory]
    [MemberData(nameof(Replies))]
    public void Reply_EveryAddressType_IsReadWithoutOvershooting(string hex)
    {
        var reply = Hex(hex);
        var handshake = Socks5ClientHandshake.Resume();
        Request(handshake, Target);
        var server = new ScriptedServer([.. reply, 0xEE, 0xEE, 0xEE]);
        var step = server.Run(handshake);
        Assert.Equal(Socks5ClientStatus.Succeeded, step.Status);
        Assert.Equal(reply.Length, server.Read);
    }

    /// <summary>Fed any proper prefix, the handshake waits, and what it asks for never reaches past the message.</summary>
    [Theory]
    [MemberData(nameof(Replies))]
    public void Reply_EveryPrefix_NeedsMoreAndNeverMoreThanTheRest(string hex)
    {
        var reply = Hex(hex);
        for (var length = 0; length < reply.Length; length++)
        {
            var handshake = Socks5ClientHandshake.Resume();
            Request(handshake, Target);
            var step = handshake.Feed(reply.AsSpan(0, length), new byte[Socks5ClientHandshake.MaxOutputLength]);
            Assert.Equal(Socks5ClientStatus.NeedMoreData, step.Status);
            Assert.InRange(step.Count, 1, reply.Length - length);
        }
    }

    [Fact]
    public void Resume_SkipsGreetingAndAuthentication()
    {
        var handshake = Socks5ClientHandshake.Resume();
        Assert.True(handshake.IsAuthenticated);
        Assert.Equal(Hex("05 01 00 03 0B"), Request(handshake, Destination.FromHost("example.com", 443))[..5]);
        Assert.True(handshake.AwaitsReply);
    }

    [Fact]
    public void WriteRequest_BeforeAuthentication_Throws()
    {
        var handshake = new Socks5ClientHandshake("u"u8.ToArray(), "p"u8.ToArray());
        Greet(handshake);
        Assert.Throws<InvalidOperationException>(() => Request(handshake, Target));
    }

    [Theory]
    [InlineData(256, 1)]
    [InlineData(1, 0)]
    [InlineData(1, 256)]
    public void Credentials_OutsideRfc1929Lengths_AreRefused(int user, int password)
        => Assert.Throws<ArgumentException>(() => new Socks5ClientHandshake(
            Encoding.ASCII.GetBytes(new string('u', user)), Encoding.ASCII.GetBytes(new string('p', password))));

    [Fact]
    public void Credentials_EmptyUsername_MeansNoAuthentication()
        => Assert.Equal(Hex("05 01 00"), Greet(new Socks5ClientHandshake(default, "p"u8.ToArray())));
}
