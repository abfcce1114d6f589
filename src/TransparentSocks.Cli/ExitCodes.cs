namespace TransparentSocks.Cli;

/// <summary>
/// How <c>transparentsocks</c> ends. Scripts branch on these, so a value never changes meaning; 69 and 77 are the
/// sysexits.h codes (EX_UNAVAILABLE, EX_NOPERM) so that they cannot be confused with a daemon-reported error.
/// </summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The daemon refused or failed the request (<c>failed_precondition</c>, <c>internal</c>, a bad answer, no answer).</summary>
    public const int DaemonError = 1;

    /// <summary>A bad command line, caught here or reported by the daemon as <c>invalid_argument</c> or <c>invalid_json</c>.</summary>
    public const int Usage = 2;

    /// <summary>The daemon answered <c>not_found</c> (e.g. an interface that is not enabled).</summary>
    public const int NotFound = 3;

    /// <summary>No control socket, or nothing listening on it.</summary>
    public const int NotRunning = 69;

    /// <summary>The control socket exists but this user may not connect to it.</summary>
    public const int PermissionDenied = 77;

    public const string HelpText = """
        Exit codes:
          0   success
          1   the daemon reported an error (failed_precondition, internal) or gave no usable answer
          2   invalid argument or usage, found here or reported by the daemon (invalid_argument, invalid_json)
          3   not found (e.g. an interface that is not enabled)
          69  transparentsocksd is not running (no control socket, or nothing listening on it)
          77  permission denied on the control socket (run as root or as a member of group 'transparentsocks')
        """;
}
