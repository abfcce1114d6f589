using TransparentSocks.Sniffing;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// A client's first bytes through <see cref="Sniffer.Sniff"/>: it never throws; a name it finds is already valid and
/// normal (validating it again changes nothing); it never waits past <see cref="Sniffer.MaxInputLength"/>; and an
/// answer it gives on a prefix is the answer it gives on the whole, so a split segment can never change the route.
/// </summary>
public static class SniffTarget
{
    public static void Run(byte[] data)
    {
        ReadOnlySpan<byte> input = data;
        var result = Sniffer.Sniff(input);
        Check(result, input.Length);

        // Each prefix re-parses from the start, so long inputs get a sample of prefixes rather than all of them.
        var step = input.Length <= 512 ? 1 : input.Length / 64;
        for (var length = 0; length < input.Length; length += step)
        {
            var prefix = Sniffer.Sniff(input[..length]);
            Check(prefix, length);
            if (!prefix.NeedsMoreData)
            {
                InvariantViolationException.Check(
                    prefix.Status == result.Status && prefix.Protocol == result.Protocol && prefix.Name == result.Name,
                    $"sniff: the {length}-byte prefix answered {prefix}, the {input.Length} bytes {result}");
            }
        }
    }

    private static void Check(SniffResult result, int length)
    {
        switch (result.Status)
        {
            case SniffStatus.NeedMoreData:
                InvariantViolationException.Check(result.Name is null && result.Needed >= 1 && length + result.Needed <= Sniffer.MaxInputLength,
                    $"sniff: {length} bytes need {result.Needed} more (cap {Sniffer.MaxInputLength}): {result}");
                break;
            case SniffStatus.Found:
                InvariantViolationException.Check(result.Protocol != SniffedProtocol.None, $"sniff: found without a protocol: {result}");
                if (result.Name is { } name)
                {
                    InvariantViolationException.Check(
                        SniffedName.TryNormalize(name, out var again, out _) && again == name && name.Length <= SniffedName.MaxLength,
                        $"sniff: the name '{name}' is not valid and normal");
                    InvariantViolationException.Check(result.NameError == SniffedNameError.None, $"sniff: a name and an error: {result}");
                }
                else
                {
                    InvariantViolationException.Check(result.NameError != SniffedNameError.None, $"sniff: found nothing without saying why: {result}");
                }

                break;
            case SniffStatus.NotThisProtocol:
                InvariantViolationException.Check(result.Name is null, $"sniff: a name from input that is not the protocol: {result}");
                break;
            default:
                throw new InvariantViolationException($"sniff: unknown status {result.Status}");
        }
    }
}
