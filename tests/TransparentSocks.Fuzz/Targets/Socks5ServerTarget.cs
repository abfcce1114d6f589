using TransparentSocks.Socks;

namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// What a client sends a SOCKS5 server: greeting, RFC 1929 credentials and request, each parser on the whole input
/// and the three in sequence as a pipelining client sends them. Every Done message written back by the codec's
/// writer parses to the same value.
/// </summary>
public static class Socks5ServerTarget
{
    public static void Run(byte[] data)
    {
        ReadOnlySpan<byte> input = data;
        Greeting(input);
        Credentials(input);
        Request(input);

        var greeting = Greeting(input);
        if (!greeting.IsDone)
        {
            return;
        }

        input = input[greeting.Consumed..];
        var credentials = Credentials(input);
        if (credentials.IsDone)
        {
            input = input[credentials.Consumed..];
        }

        Request(input);
    }

    private static ParseResult<Socks5Greeting> Greeting(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("greeting", Socks5Codec.ParseGreeting, input, Socks5Codec.MaxGreetingLength);
        if (!result.IsDone)
        {
            return result;
        }

        var methods = new List<Socks5AuthMethod>();
        for (var value = 0; value < byte.MaxValue; value++)
        {
            if (result.Value.Methods.Contains((Socks5AuthMethod)value))
            {
                methods.Add((Socks5AuthMethod)value);
            }
        }

        InvariantViolationException.Check(!result.Value.Methods.Contains(Socks5AuthMethod.NoAcceptable), "greeting: 0xFF accepted as an offer");
        InvariantViolationException.Check(methods.Count >= 1 && methods.Count <= input[1], $"greeting: {methods.Count} distinct methods from NMETHODS {input[1]}");
        var written = new byte[Socks5Codec.MaxGreetingLength];
        var length = Socks5Codec.WriteGreeting(written, methods.ToArray());
        var again = Socks5Codec.ParseGreeting(written.AsSpan(0, length));
        InvariantViolationException.Check(again.IsDone && again.Consumed == length && again.Value == result.Value,
            $"greeting: {result} written back parses as {again}");
        return result;
    }

    private static ParseResult<Socks5Credentials> Credentials(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("credentials", Socks5Codec.ParseUsernamePassword, input, Socks5Codec.MaxAuthRequestLength);
        if (!result.IsDone)
        {
            return result;
        }

        var username = result.Value.GetUsername(input);
        var password = result.Value.GetPassword(input);
        InvariantViolationException.Check(username.Length is >= 1 and <= 255 && password.Length is >= 1 and <= 255,
            $"credentials: a {username.Length}-byte username and a {password.Length}-byte password");
        var written = new byte[Socks5Codec.MaxAuthRequestLength];
        var length = Socks5Codec.WriteUsernamePassword(written, username, password);
        InvariantViolationException.Check(written.AsSpan(0, length).SequenceEqual(input[..result.Consumed]),
            "credentials: written back they are not the bytes they were parsed from");
        return result;
    }

    private static void Request(ReadOnlySpan<byte> input)
    {
        var result = ParseChecks.Check("request", Socks5Codec.ParseRequest, input, Socks5Codec.MaxRequestLength);
        if (!result.IsDone)
        {
            if (result.IsInvalid)
            {
                // Total: every refusal maps to a reply code the server can send.
                var code = Socks5Codec.ToReplyCode(result.Error);
                InvariantViolationException.Check(code is > Socks5ReplyCode.Succeeded and <= Socks5ReplyCode.AddressTypeNotSupported,
                    $"request: {result.Error} maps to reply {code}");
            }

            return;
        }

        var request = result.Value;
        InvariantViolationException.Check(!request.Destination.IsDefault, "request: Done with an empty destination");
        InvariantViolationException.Check(Socks5Codec.GetRequestLength(request.Destination) <= Socks5Codec.MaxRequestLength,
            $"request: {request.Destination} measures longer than a request may be");
        var written = new byte[Socks5Codec.MaxRequestLength];
        var length = Socks5Codec.WriteRequest(written, request.Command, request.Destination);
        var again = Socks5Codec.ParseRequest(written.AsSpan(0, length));
        InvariantViolationException.Check(again.IsDone && again.Consumed == length && again.Value == request,
            $"request: {request} written back parses as {again}");
    }
}
