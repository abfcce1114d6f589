using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TransparentSocks.Cli.Client;
using TransparentSocks.Cli.Rendering;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// Where every daemon command ends: one request, then the answer printed or the error and its exit code. A command
/// declares only what is its own: the request its command line makes, and the type and view of the answer.
/// </summary>
internal static class ControlCall
{
    /// <summary>
    /// Makes <paramref name="command"/> one control call. Where it has <paramref name="json"/> (show's recursive --json)
    /// and that is given, the answer is printed as received instead of through <paramref name="render"/>.
    /// </summary>
    public static Command Calls<TResponse>(
        this Command command,
        GlobalOptions globals,
        Func<ParseResult, ControlRequest> request,
        JsonTypeInfo<TResponse> responseType,
        Action<TResponse, TextWriter> render,
        Option<bool>? json = null)
    {
        command.SetAction(Handler(globals, request, responseType, render, json));
        return command;
    }

    /// <summary>
    /// <see cref="Calls{TResponse}"/> for a command that sends credentials. Their options are added after the command's
    /// own, where help lists them; they are resolved first, so a bad combination ends with exit code 2 before any call.
    /// </summary>
    public static Command CallsWithCredentials<TResponse>(
        this Command command,
        GlobalOptions globals,
        string whose,
        Func<ParseResult, string?, string?, ControlRequest> request,
        JsonTypeInfo<TResponse> responseType,
        Action<TResponse, TextWriter> render,
        string scheme = CredentialOptions.Socks5Scheme)
    {
        var credentials = new CredentialOptions(whose, scheme);
        credentials.AddTo(command);
        command.SetAction((parse, ct) => credentials.TryResolve(parse, parse.InvocationConfiguration.Error, out var username, out var password)
            ? RunAsync(parse, globals, request(parse, username, password), responseType, render, json: false, ct)
            : Task.FromResult(ExitCodes.Usage));
        return command;
    }

    /// <summary>The action <see cref="Calls{TResponse}"/> sets, for a command whose command line chooses between calls.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Handler<TResponse>(
        GlobalOptions globals,
        Func<ParseResult, ControlRequest> request,
        JsonTypeInfo<TResponse> responseType,
        Action<TResponse, TextWriter> render,
        Option<bool>? json = null)
        => (parse, ct) => RunAsync(parse, globals, request(parse), responseType, render, json is not null && parse.GetValue(json), ct);

    private static async Task<int> RunAsync<TResponse>(
        ParseResult parse,
        GlobalOptions globals,
        ControlRequest request,
        JsonTypeInfo<TResponse> responseType,
        Action<TResponse, TextWriter> render,
        bool json,
        CancellationToken cancellationToken)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var socket = parse.GetValue(globals.Socket)!;

        ControlReply reply;
        using (var client = new ControlClient(socket, ControlClient.DefaultTimeout))
        {
            reply = await client.SendAsync(request.Method, request.Path, request.Body, cancellationToken).ConfigureAwait(false);
        }

        if (!reply.Succeeded)
        {
            error.WriteLine($"error: {reply.ErrorMessage}");
            return reply.ExitCode;
        }

        var body = reply.Body!;
        if (json)
        {
            if (!JsonText.TryIndent(body, out var indented))
            {
                return BadAnswer(error, "the answer is not JSON");
            }

            output.WriteLine(indented);
            return ExitCodes.Ok;
        }

        TResponse? value;
        try
        {
            value = JsonSerializer.Deserialize(body, responseType);
        }
        catch (JsonException ex)
        {
            return BadAnswer(error, ex.Message);
        }

        if (value is null)
        {
            return BadAnswer(error, "the answer is empty");
        }

        render(value, output);
        return ExitCodes.Ok;
    }

    private static int BadAnswer(TextWriter error, string why)
    {
        error.WriteLine($"error: unexpected answer from transparentsocksd ({why}); is the CLI the same version as the daemon?");
        return ExitCodes.DaemonError;
    }
}
