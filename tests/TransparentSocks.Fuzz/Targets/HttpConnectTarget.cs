using TransparentSocks.Http;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// An HTTP proxy's answer to CONNECT: the response head ends at the first empty line, which no read guided by
/// <see cref="HttpConnectCodec.NextReadLength"/> goes past; a head is never longer than the codec's limit; a refusal
/// stays a refusal however the answer continues.
/// </summary>
public static class HttpConnectTarget
{
    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    public static void Run(byte[] data)
    {
        ReadOnlySpan<byte> input = data;
        var result = HttpConnectCodec.ParseResponse(input);
        CheckNextReadLength(input);
        switch (result.Status)
        {
            case HttpConnectStatus.Done:
                var head = result.Response.HeadLength;
                InvariantViolationException.Check(head >= 16 && head <= input.Length && head <= HttpConnectCodec.MaxHeadLength,
                    $"http: a {head}-byte head in {input.Length} bytes (at most {HttpConnectCodec.MaxHeadLength})");
                InvariantViolationException.Check(input.IndexOf(EndOfHead) == head - EndOfHead.Length, "http: the head does not end at the first empty line");
                InvariantViolationException.Check(result.Response.Status is >= 0 and <= 999 && result.Error is null, $"http: Done with {result}");
                InvariantViolationException.Check(result.Response.Established == (result.Response.Status / 100 == 2), $"http: {result.Response.Status} established={result.Response.Established}");
                var exact = HttpConnectCodec.ParseResponse(input[..head]);
                InvariantViolationException.Check(exact == result, $"http: {result} from {input.Length} bytes but {exact} from the head alone");
                for (var length = 0; length < head; length++)
                {
                    var next = HttpConnectCodec.NextReadLength(input[..length]);
                    InvariantViolationException.Check(length + next <= head, $"http: after {length} bytes of a {head}-byte head it would read {next} more");
                }

                // Each prefix re-scans the head, so only the short heads a fuzzer mostly makes get every prefix checked.
                var step = head <= 512 ? 1 : head / 64;
                for (var length = 0; length < head; length += step)
                {
                    var prefix = HttpConnectCodec.ParseResponse(input[..length]);
                    InvariantViolationException.Check(prefix.Status == HttpConnectStatus.NeedMoreData,
                        $"http: the {length}-byte prefix of a {head}-byte head gave {prefix}");
                }

                break;
            case HttpConnectStatus.NeedMoreData:
                InvariantViolationException.Check(input.IndexOf(EndOfHead) < 0 && input.Length < HttpConnectCodec.MaxHeadLength && result.Error is null,
                    $"http: {input.Length} bytes need more ({result})");
                break;
            case HttpConnectStatus.Invalid:
                InvariantViolationException.Check(!string.IsNullOrWhiteSpace(result.Error), "http: Invalid without a reason");
                var continued = HttpConnectCodec.ParseResponse([.. input, .. "HTTP/1.1 200 OK\r\n\r\n"u8]);
                InvariantViolationException.Check(continued.Status == HttpConnectStatus.Invalid,
                    $"http: {input.Length} bytes are refused ({result.Error}) but continued they are {continued}");
                break;
            default:
                throw new InvariantViolationException($"http: status {result.Status} is not one of the three");
        }
    }

    private static void CheckNextReadLength(ReadOnlySpan<byte> input)
    {
        var next = HttpConnectCodec.NextReadLength(input);
        InvariantViolationException.Check(next is >= 1 and <= 4, $"http: next read of {next} bytes");
    }
}
