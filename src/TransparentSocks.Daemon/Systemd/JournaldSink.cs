using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Serilog.Core;
using Serilog.Debugging;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace TransparentSocks.Daemon.Systemd;

/// <summary>
/// Writes each event to journald in its native protocol (one datagram of fields, see systemd's
/// JOURNAL_NATIVE_PROTOCOL), so <c>journalctl -p</c> filters by the real level and the event's properties become
/// fields such as <c>SESSIONID=</c> or <c>INTERFACE=</c> that <c>journalctl</c> can match on.
/// </summary>
internal sealed class JournaldSink : ILogEventSink, IDisposable
{
    public const string DefaultSocket = "/run/systemd/journal/socket";

    // journald refuses field names longer than this.
    private const int MaxFieldName = 64;

    // A datagram must fit the socket's send buffer; longer values are cut rather than lost. sd_journal_send passes a
    // memfd instead, which is more than a log line of this daemon ever needs.
    private const int MaxValueBytes = 48 * 1024;

    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal)
    {
        "MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "CODE_FILE", "CODE_LINE",
        "CODE_FUNC", "ERRNO", "LOGGER",
    };

    // "l": strings without the quotes Serilog puts around them by default, as the console shows them.
    private static readonly MessageTemplateTextFormatter MessageFormatter = new("{Message:l}", CultureInfo.InvariantCulture);

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly UnixDomainSocketEndPoint _endPoint;
    private readonly string _identifier;
    private readonly IFormatProvider? _formatProvider = CultureInfo.InvariantCulture;

    public JournaldSink(string identifier, string socketPath = DefaultSocket)
    {
        _identifier = identifier;
        _endPoint = new UnixDomainSocketEndPoint(socketPath);
    }

    /// <summary>
    /// True when stdout or stderr is connected to the journal: systemd then sets JOURNAL_STREAM to that stream's
    /// "device:inode", which sd_journal_stream_fd(3) says to compare rather than trust the variable alone. Tests and
    /// shells started from a unit inherit the variable (and INVOCATION_ID) with their own pipes, and keep the console.
    /// </summary>
    public static bool UnderSystemd(string socketPath = DefaultSocket)
    {
        var stream = Environment.GetEnvironmentVariable("JOURNAL_STREAM");
        var colon = stream?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (colon <= 0
            || !ulong.TryParse(stream.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var device)
            || !ulong.TryParse(stream.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var inode)
            || !File.Exists(socketPath))
        {
            return false;
        }

        return IsStream(1, device, inode) || IsStream(2, device, inode);
    }

    private static bool IsStream(int fd, ulong device, ulong inode)
        => Mono.Unix.Native.Syscall.fstat(fd, out var stat) == 0 && stat.st_dev == device && stat.st_ino == inode;

    public static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => 7,
        LogEventLevel.Information => 6,
        LogEventLevel.Warning => 4,
        LogEventLevel.Error => 3,
        _ => 2,
    };

    /// <summary>
    /// A property name as a journal field: upper case, only [A-Z0-9_], not starting with '_' (reserved for fields
    /// journald itself trusts) or a digit. Null when nothing usable is left.
    /// </summary>
    public static string? FieldName(string property)
    {
        var builder = new StringBuilder(Math.Min(property.Length, MaxFieldName));
        foreach (var c in property)
        {
            if (builder.Length == MaxFieldName)
            {
                break;
            }

            if (c is >= 'a' and <= 'z')
            {
                builder.Append(char.ToUpperInvariant(c));
            }
            else if (c is >= 'A' and <= 'Z' or >= '0' and <= '9')
            {
                builder.Append(c);
            }
            else if (builder.Length > 0)
            {
                builder.Append('_');
            }
        }

        while (builder.Length > 0 && char.IsAsciiDigit(builder[0]))
        {
            builder.Remove(0, 1);
        }

        var name = builder.ToString().TrimEnd('_');
        if (name.Length == 0)
        {
            return null;
        }

        // Our own fields win; a property that collides keeps its value under a prefixed name.
        return Reserved.Contains(name) ? ("TS_" + name)[..Math.Min(name.Length + 3, MaxFieldName)] : name;
    }

    /// <summary>Whether a property may hold a secret; such properties never reach the journal, whatever a caller logs.</summary>
    public static bool IsSecret(string fieldName)
        => fieldName.Contains("PASSWORD", StringComparison.Ordinal)
            || fieldName.Contains("SECRET", StringComparison.Ordinal)
            || fieldName.Contains("TOKEN", StringComparison.Ordinal)
            || fieldName.Contains("CREDENTIAL", StringComparison.Ordinal);

    /// <summary>The datagram for one event, exposed so tests can check the wire format without a journal.</summary>
    public ReadOnlyMemory<byte> Encode(LogEvent logEvent, ArrayBufferWriter<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.Clear();
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        MessageFormatter.Format(logEvent, writer);
        var message = writer.ToString();
        if (logEvent.Exception is not null)
        {
            message = $"{message}\n{logEvent.Exception}";
        }

        Field(buffer, "MESSAGE", message);
        Field(buffer, "PRIORITY", Priority(logEvent.Level).ToString(CultureInfo.InvariantCulture));
        Field(buffer, "SYSLOG_IDENTIFIER", _identifier);
        if (logEvent.Exception is not null)
        {
            Field(buffer, "EXCEPTION_TYPE", logEvent.Exception.GetType().FullName ?? "Exception");
        }

        foreach (var (property, value) in logEvent.Properties)
        {
            var name = FieldName(property);
            if (name is null || IsSecret(name))
            {
                continue;
            }

            if (value is StructureValue structure)
            {
                // e.g. Microsoft.Extensions.Logging's EventId becomes EVENTID_ID=1100 and EVENTID_NAME=InterfaceEnabled.
                foreach (var member in structure.Properties)
                {
                    var memberName = FieldName($"{name}_{member.Name}");
                    if (memberName is not null && !IsSecret(memberName))
                    {
                        Field(buffer, memberName, Text(member.Value));
                    }
                }

                continue;
            }

            Field(buffer, name, Text(value));
        }

        return buffer.WrittenMemory;
    }

    private string Text(LogEventPropertyValue value)
        => value is ScalarValue { Value: string s } ? s : value.ToString(null, _formatProvider);

    public void Emit(LogEvent logEvent)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        var datagram = Encode(logEvent, buffer);
        try
        {
            _socket.SendTo(datagram.Span, SocketFlags.None, _endPoint);
        }
        catch (SocketException ex)
        {
            // Logging must never take the daemon down; SelfLog is where Serilog reports its own trouble.
            SelfLog.WriteLine("journald: {0}", ex.Message);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Appends <c>NAME=value\n</c>, or, when the value holds a newline, the binary-safe form: the name, a newline, the
    /// value's length as 64-bit little endian, the value, and a newline.
    /// </summary>
    private static void Field(ArrayBufferWriter<byte> buffer, string name, string value)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(value.Length);
        var valueBytes = ArrayPool<byte>.Shared.Rent(maxBytes);
        try
        {
            var length = Math.Min(Encoding.UTF8.GetBytes(value, valueBytes), MaxValueBytes);
            var bytes = valueBytes.AsSpan(0, length);
            Write(buffer, Encoding.ASCII.GetBytes(name));
            if (bytes.Contains((byte)'\n'))
            {
                Write(buffer, "\n"u8);
                BinaryPrimitives.WriteUInt64LittleEndian(buffer.GetSpan(8), (ulong)bytes.Length);
                buffer.Advance(8);
            }
            else
            {
                Write(buffer, "="u8);
            }

            Write(buffer, bytes);
            Write(buffer, "\n"u8);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(valueBytes);
        }
    }

    private static void Write(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(buffer.GetSpan(bytes.Length));
        buffer.Advance(bytes.Length);
    }

    public void Dispose() => _socket.Dispose();
}
