using TransparentSocks.Http;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// A request head as the /metrics listener reads it from anyone who connects: a Done head ends at the first empty
/// line and within the limit, and the bytes after it do not change it; nothing is refused that more bytes could make
/// valid, nor waited for once the limit is reached.
/// </summary>
public static class HttpRequestTarget
{
    private const int Max = 8192;

    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    public static void Run(byte[] data)
    {
        ReadOnlySpan<byte> input = data;
        var result = HttpRequestHeadParser.Parse(input, Max);
        switch (result.Status)
        {
            case HttpRequestStatus.Done:
                var head = result.Head.HeadLength;
                InvariantViolationException.Check(head <= input.Length && head <= Max && input.IndexOf(EndOfHead) == head - EndOfHead.Length,
                    $"http-request: a {head}-byte head in {input.Length} bytes");
                InvariantViolationException.Check(result.Head.Path.StartsWith('/') && result.Head.MinorVersion is >= 0 and <= 9 && result.Error is null,
                    $"http-request: Done with {result}");
                var alone = HttpRequestHeadParser.Parse(input[..head], Max);
                InvariantViolationException.Check(alone.Status == HttpRequestStatus.Done && alone.Head == result.Head,
                    $"http-request: {result} from {input.Length} bytes but {alone} from the head alone");
                break;
            case HttpRequestStatus.NeedMoreData:
                InvariantViolationException.Check(input.IndexOf(EndOfHead) < 0 && input.Length < Max && result.Error is null,
                    $"http-request: {input.Length} bytes need more ({result})");
                break;
            case HttpRequestStatus.Invalid:
            case HttpRequestStatus.TooLarge:
                InvariantViolationException.Check(!string.IsNullOrWhiteSpace(result.Error), $"http-request: {result.Status} without a reason");
                var continued = HttpRequestHeadParser.Parse([.. input, .. "\r\nHost: x\r\n\r\n"u8], Max);
                InvariantViolationException.Check(continued.Status is HttpRequestStatus.Invalid or HttpRequestStatus.TooLarge,
                    $"http-request: {input.Length} bytes are refused ({result.Error}) but continued they are {continued}");
                break;
            default:
                throw new InvariantViolationException($"http-request: status {result.Status} is not one of the four");
        }
    }
}
