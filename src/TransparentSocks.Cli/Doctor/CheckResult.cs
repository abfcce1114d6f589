namespace TransparentSocks.Cli.Doctor;

internal enum CheckStatus
{
    Ok,
    Warn,
    Fail,
    Skip,
}

/// <summary>One line of the doctor's report. Only <see cref="CheckStatus.Fail"/> makes the exit code 1.</summary>
internal sealed record CheckResult(CheckStatus Status, string Name, string Message)
{
    public override string ToString()
    {
        var label = Status switch
        {
            CheckStatus.Ok => "ok  ",
            CheckStatus.Warn => "WARN",
            CheckStatus.Fail => "FAIL",
            _ => "skip",
        };
        return $"{label}  {Name,-16} {Message}";
    }
}
