namespace TransparentSocks.Http;

/// <summary>The reason phrases of the statuses the daemon's own HTTP servers (control socket, /metrics) answer with.</summary>
public static class HttpReasonPhrase
{
    public static string Of(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    };
}
