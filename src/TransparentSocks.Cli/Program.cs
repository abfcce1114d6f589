namespace TransparentSocks.Cli;

/// <summary>
/// <c>transparentsocks</c>: the operator's command line. <c>config</c> works on the configuration file; the other
/// commands drive a running transparentsocksd over its control socket.
/// </summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => CliApp.InvokeAsync(args);
}
