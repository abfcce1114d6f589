using TransparentSocks.Socks;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>A codec parser, as a delegate, since a span cannot be captured by a lambda.</summary>
public delegate ParseResult<T> SpanParser<T>(ReadOnlySpan<byte> input);

/// <summary>
/// The contract every <see cref="Socks5Codec"/> parser states in <see cref="ParseResult{T}"/> and the codec's remarks,
/// checked on one input.
/// </summary>
public static class ParseChecks
{
    // Appended to a refused input: the parsers promise to refuse as soon as the bytes seen cannot start a message,
    // so no continuation may rescue it.
    private static readonly byte[] Continuation = [0x05, 0x01, 0x00, 0x01, 0x7F, 0x00, 0x00, 0x01, 0x00, 0x50, 0x00, 0x00];

    /// <summary>
    /// Parses <paramref name="input"/> and checks the result's shape: Done consumes 1 to <paramref name="maxLength"/>
    /// bytes and parses the same from exactly those bytes, each proper prefix of which needs more without asking for
    /// bytes past the message; NeedMoreData claims nothing and never asks for more than the longest message; Invalid
    /// names an error and stays Invalid however the input continues.
    /// </summary>
    public static ParseResult<T> Check<T>(string name, SpanParser<T> parse, ReadOnlySpan<byte> input, int maxLength)
    {
        var result = parse(input);
        switch (result.Status)
        {
            case ParseStatus.Done:
                InvariantViolationException.Check(result.Consumed >= 1 && result.Consumed <= input.Length && result.Consumed <= maxLength,
                    $"{name}: Done consumed {result.Consumed} of {input.Length} bytes (at most {maxLength})");
                InvariantViolationException.Check(result.Error == Socks5ParseError.None && result.Needed == 0, $"{name}: Done carries {result.Error}, needs {result.Needed}");
                var exact = parse(input[..result.Consumed]);
                InvariantViolationException.Check(exact.IsDone && exact.Consumed == result.Consumed && EqualityComparer<T>.Default.Equals(exact.Value, result.Value),
                    $"{name}: {result} from {input.Length} bytes but {exact} from the {result.Consumed} it consumed");
                for (var length = 0; length < result.Consumed; length++)
                {
                    var prefix = parse(input[..length]);
                    InvariantViolationException.Check(prefix.NeedsMoreData && prefix.Consumed == 0,
                        $"{name}: the {length}-byte prefix of a {result.Consumed}-byte message gave {prefix}");
                    InvariantViolationException.Check(length + prefix.Needed <= result.Consumed,
                        $"{name}: the {length}-byte prefix of a {result.Consumed}-byte message asks for {prefix.Needed} more, past its end");
                }

                break;
            case ParseStatus.NeedMoreData:
                InvariantViolationException.Check(result.Consumed == 0 && result.Error == Socks5ParseError.None, $"{name}: {result} consumed {result.Consumed}, error {result.Error}");
                InvariantViolationException.Check(result.Needed >= 1 && input.Length + result.Needed <= maxLength,
                    $"{name}: {input.Length} bytes need {result.Needed} more, but a message is at most {maxLength}");
                break;
            case ParseStatus.Invalid:
                InvariantViolationException.Check(result.Consumed == 0 && result.Needed == 0 && result.Error != Socks5ParseError.None,
                    $"{name}: Invalid with consumed {result.Consumed}, needed {result.Needed}, error {result.Error}");
                var continued = parse([.. input, .. Continuation]);
                InvariantViolationException.Check(continued.IsInvalid && continued.Error == result.Error,
                    $"{name}: {input.Length} bytes are {result} but continued they are {continued}");
                break;
            default:
                throw new InvariantViolationException($"{name}: status {result.Status} is not one of the three");
        }

        return result;
    }
}
