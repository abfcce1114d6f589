using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using TransparentSocks.Cli.Client;
using TransparentSocks.Cli.Rendering;

namespace TransparentSocks.Cli.Commands;

/// <summary>Where every daemon command ends: one request, then the answer printed or the error and its exit code.</summary>
internal static class ControlCall
{
    public static async Task<int> RunAsync<TResponse>(
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
