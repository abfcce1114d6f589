using TransparentSocks.Socks;

namespace TransparentSocks.Engine.Inbound;

internal delegate ParseResult<T> SpanParser<T>(ReadOnlySpan<byte> input);

/// <summary>
/// Feeds a handshake buffer to the pure parsers: receive, parse, and receive again only while the parser says it
/// needs more. Bytes past a complete message stay buffered for the next message (clients pipeline greeting, auth and
/// request in one segment) and, after the request, become early data for the destination.
/// </summary>
internal sealed class MessageReader
{
    private readonly LinuxSocket _socket;
    private readonly Memory<byte> _buffer;
    private int _start;
    private int _end;
    private int _lastStart;
    private int _lastLength;
    private Errno _error;
    private bool _eof;

    public MessageReader(LinuxSocket socket, Memory<byte> buffer)
    {
        _socket = socket;
        _buffer = buffer;
    }

    /// <summary>The bytes of the message most recently parsed, for parsers whose result points into them.</summary>
    public ReadOnlySpan<byte> LastMessage => _buffer.Span.Slice(_lastStart, _lastLength);

    public int Position => _start;

    public int Buffered => _end - _start;

    public async ValueTask<ParseResult<T>> ReadAsync<T>(SpanParser<T> parse)
    {
        while (true)
        {
            var result = parse(_buffer.Span[_start.._end]);
            if (result.IsDone)
            {
                _lastStart = _start;
                _lastLength = result.Consumed;
                _start += result.Consumed;
                return result;
            }

            if (result.IsInvalid)
            {
                return result;
            }

            if (_end == _buffer.Length)
            {
                if (_start == 0)
                {
                    // Cannot happen with the codec's maximum message sizes; refuse rather than grow.
                    return ParseResult<T>.Invalid(Socks5ParseError.BadVersion);
                }

                _buffer[_start.._end].CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }

            var received = await _socket.ReceiveAsync(_buffer[_end..]).ConfigureAwait(false);
            if (received.HasError)
            {
                _error = received.Error;
                return result;
            }

            if (received.Bytes == 0)
            {
                _eof = true;
                return result;
            }

            _end += received.Bytes;
        }
    }

    public string Describe<T>(ParseResult<T> result, string step)
    {
        if (result.IsInvalid)
        {
            return $"{step}: invalid ({result.Error})";
        }

        if (_error == Errno.ETIMEDOUT)
        {
            return $"{step}: handshake deadline passed";
        }

        if (_error != Errno.None)
        {
            return $"{step}: {_error.Describe()}";
        }

        return _eof ? $"{step}: client closed after {Buffered} byte(s)" : $"{step}: incomplete";
    }
}
