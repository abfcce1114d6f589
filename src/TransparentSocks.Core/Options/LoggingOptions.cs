namespace TransparentSocks.Options;

public sealed class LoggingOptions
{
    public LogLevelName Level { get; set; } = LogLevelName.Information;
}
