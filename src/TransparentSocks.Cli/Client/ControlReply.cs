using System.Globalization;
using System.Net;
using System.Text.Json;
using TransparentSocks.Control;

namespace TransparentSocks.Cli.Client;

/// <summary>
/// The outcome of one control call: the response body on success, otherwise the exit code and the message to print.
/// </summary>
internal sealed record ControlReply(int ExitCode, string? Body, string? ErrorMessage)
{
    public bool Succeeded => ExitCode == ExitCodes.Ok;

    public static ControlReply Success(string body) => new(ExitCodes.Ok, body, null);

    public static ControlReply Failure(int exitCode, string message) => new(exitCode, null, message);

    /// <summary>Maps a non-2xx answer: the stable error code decides when the body carries one, else the HTTP status.</summary>
    public static ControlReply FromErrorStatus(HttpStatusCode status, string body)
    {
        if (TryReadError(body) is { } error)
        {
            var message = error.Field is null ? error.Message : $"{error.Message} (field: {error.Field})";
            return Failure(ExitCodeOf(error.Code, status), message);
        }

        var statusText = ((int)status).ToString(CultureInfo.InvariantCulture);
        var excerpt = body.Length > 200 ? body[..200] + "…" : body;
        var detail = string.IsNullOrWhiteSpace(excerpt) ? string.Empty : $": {excerpt.Trim()}";
        return Failure(ExitCodeOf(code: null, status), $"transparentsocksd answered HTTP {statusText} {status}{detail}");
    }

    private static int ExitCodeOf(string? code, HttpStatusCode status) => code switch
    {
        ErrorCodes.InvalidArgument or ErrorCodes.InvalidJson => ExitCodes.Usage,
        ErrorCodes.NotFound => ExitCodes.NotFound,
        ErrorCodes.FailedPrecondition or ErrorCodes.Internal or ErrorCodes.MethodNotAllowed => ExitCodes.DaemonError,
        _ => status switch
        {
            HttpStatusCode.BadRequest => ExitCodes.Usage,
            HttpStatusCode.NotFound => ExitCodes.NotFound,
            _ => ExitCodes.DaemonError,
        },
    };

    private static ErrorBody? TryReadError(string body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, ControlJsonContext.Default.ErrorResponse)?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
