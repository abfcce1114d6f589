using System.Globalization;
using System.Net;

namespace TransparentSocks.TestSupport;

/// <summary>
/// One <c>dig</c> query (bind9-dnsutils), over UDP unless told otherwise, with a single try so that a lost
/// datagram shows as a failure instead of a retry the test cannot see.
/// </summary>
public static class Dig
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Asks <paramref name="server"/> for <paramref name="name"/>'s <paramref name="type"/> records, from inside
    /// <paramref name="networkNamespace"/> when given. Returns the answers as <c>+short</c> prints them.
    /// </summary>
    public static async Task<DigResult> QueryAsync(
        IPAddress server,
        string name,
        string type = "A",
        int port = 53,
        string? networkNamespace = null,
        bool tcp = false)
    {
        string[] arguments =
        [
            "+short", "+tries=1", "+time=3", tcp ? "+tcp" : "+notcp",
            "-p", port.ToString(CultureInfo.InvariantCulture),
            $"@{server}", name, type,
        ];
        var result = networkNamespace is null
            ? await ExternalProcess.RunAsync("dig", arguments, ProcessTimeout)
            : await ExternalProcess.RunAsync("ip", ["netns", "exec", networkNamespace, "dig", .. arguments], ProcessTimeout);
        return new DigResult(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), result);
    }
}

/// <summary>The answers dig printed, and the run itself. dig exits 0 for NXDOMAIN too; exit 9 is "no reply".</summary>
public sealed record DigResult(IReadOnlyList<string> Answers, ProcessResult Process)
{
    public bool Answered => Process.ExitCode == 0;
}
