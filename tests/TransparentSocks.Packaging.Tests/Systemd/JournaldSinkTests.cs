using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using TransparentSocks.Daemon.Systemd;

namespace TransparentSocks.Packaging.Tests.Systemd;

[Trait("Category", "Unit")]
public sealed class JournaldSinkTests
{
    private sealed class Capture : ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];

        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }

    private static LogEvent Event(Action<ILogger> log)
    {
        var capture = new Capture();
        using (var logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(capture).CreateLogger())
        {
            log(logger);
        }

        return Assert.Single(capture.Events);
    }

    /// <summary>Splits a native-protocol datagram back into fields, both the plain and the binary-safe form.</summary>
    private static List<(string Name, string Value)> Decode(ReadOnlySpan<byte> datagram)
    {
        var fields = new List<(string, string)>();
        while (!datagram.IsEmpty)
        {
            var newline = datagram.IndexOf((byte)'\n');
            var equals = datagram[..newline].IndexOf((byte)'=');
            if (equals >= 0)
            {
                fields.Add((Encoding.ASCII.GetString(datagram[..equals]), Encoding.UTF8.GetString(datagram[(equals + 1)..newline])));
                datagram = datagram[(newline + 1)..];
                continue;
            }

            var name = Encoding.ASCII.GetString(datagram[..newline]);
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(datagram[(newline + 1)..]);
            var start = newline + 1 + 8;
            fields.Add((name, Encoding.UTF8.GetString(datagram.Slice(start, length))));
            Assert.Equal((byte)'\n', datagram[start + length]);
            datagram = datagram[(start + length + 1)..];
        }

        return fields;
    }

    private static List<(string Name, string Value)> Encode(LogEvent logEvent)
    {
        using var sink = new JournaldSink("transparentsocksd", "/nonexistent/journal.socket");
        return Decode(sink.Encode(logEvent, new ArrayBufferWriter<byte>()).Span);
    }

    [Fact]
    public void Encode_StructuredEvent_WritesMessagePriorityIdentifierAndFields()
    {
        var fields = Encode(Event(l => l.Information("session {SessionId} on {Interface} to {Destination}", 42, "eth1", "203.0.113.7:443")));

        Assert.Contains(("MESSAGE", "session 42 on eth1 to 203.0.113.7:443"), fields);
        Assert.Contains(("PRIORITY", "6"), fields);
        Assert.Contains(("SYSLOG_IDENTIFIER", "transparentsocksd"), fields);
        Assert.Contains(("SESSIONID", "42"), fields);
        Assert.Contains(("INTERFACE", "eth1"), fields);
        Assert.Contains(("DESTINATION", "203.0.113.7:443"), fields);
    }

    [Fact]
    public void Encode_MultiLineMessage_UsesTheBinarySafeForm()
    {
        var fields = Encode(Event(l => l.Error(new InvalidOperationException("boom"), "failed on {Interface}", "eth1")));

        var message = Assert.Single(fields, f => f.Name == "MESSAGE").Value;
        Assert.StartsWith("failed on eth1\nSystem.InvalidOperationException: boom", message, StringComparison.Ordinal);
        Assert.Contains(("PRIORITY", "3"), fields);
        Assert.Contains(("EXCEPTION_TYPE", "System.InvalidOperationException"), fields);
    }

    [Fact]
    public void Encode_SecretProperties_AreNeverWritten()
    {
        var fields = Encode(Event(l => l.Warning("login for {Username} with {Password} and {UpstreamPassword} {ApiToken}", "alice", "hunter2", "s3cret", "tok")));

        Assert.Contains(("USERNAME", "alice"), fields);
        Assert.DoesNotContain(fields, f => f.Name.Contains("PASSWORD", StringComparison.Ordinal) || f.Name.Contains("TOKEN", StringComparison.Ordinal));
    }

    [Fact]
    public void Encode_StructureProperty_BecomesOneFieldPerMember()
    {
        var fields = Encode(Event(l => l.Information("{@EventId} enabled", new { Id = 1100, Name = "InterfaceEnabled" })));

        Assert.Contains(("EVENTID_ID", "1100"), fields);
        Assert.Contains(("EVENTID_NAME", "InterfaceEnabled"), fields);
    }

    [Theory]
    [InlineData("SessionId", "SESSIONID")]
    [InlineData("Upstream", "UPSTREAM")]
    [InlineData("source.context", "SOURCE_CONTEXT")]
    [InlineData("_Private", "PRIVATE")]
    [InlineData("2fast", "FAST")]
    [InlineData("Message", "TS_MESSAGE")]
    [InlineData("Priority", "TS_PRIORITY")]
    [InlineData("___", null)]
    public void FieldName_PropertyName_FollowsJournalRules(string property, string? expected)
        => Assert.Equal(expected, JournaldSink.FieldName(property));

    [Theory]
    [InlineData(LogEventLevel.Verbose, 7)]
    [InlineData(LogEventLevel.Debug, 7)]
    [InlineData(LogEventLevel.Information, 6)]
    [InlineData(LogEventLevel.Warning, 4)]
    [InlineData(LogEventLevel.Error, 3)]
    [InlineData(LogEventLevel.Fatal, 2)]
    public void Priority_Level_IsTheSyslogPriority(LogEventLevel level, int priority)
        => Assert.Equal(priority, JournaldSink.Priority(level));

    [Fact]
    public void Emit_ToAUnixDatagramSocket_ArrivesAsOneDatagram()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tspkg-journal-{Guid.NewGuid():N}.sock");
        using var journal = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        journal.Bind(new UnixDomainSocketEndPoint(path));
        try
        {
            using (var sink = new JournaldSink("transparentsocksd", path))
            using (var logger = new LoggerConfiguration().WriteTo.Sink(sink).CreateLogger())
            {
                logger.Warning("upstream {Upstream} refused", "socks5://203.0.113.2:1080");
            }

            journal.ReceiveTimeout = 5000;
            var buffer = new byte[65536];
            var length = journal.Receive(buffer);
            var fields = Decode(buffer.AsSpan(0, length));

            Assert.Contains(("MESSAGE", "upstream socks5://203.0.113.2:1080 refused"), fields);
            Assert.Contains(("PRIORITY", "4"), fields);
            Assert.Contains(("UPSTREAM", "socks5://203.0.113.2:1080"), fields);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
