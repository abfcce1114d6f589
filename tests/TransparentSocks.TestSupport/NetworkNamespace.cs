using System.Security.Cryptography;

namespace TransparentSocks.TestSupport;

/// <summary>
/// A network namespace of the test's own: the name carries the caller's prefix and a random suffix, loopback is up,
/// and disposing deletes it (with every veth end inside it). Addresses put in it must come from the
/// documentation ranges.
/// </summary>
public sealed class NetworkNamespace : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);

    private NetworkNamespace(string name)
    {
        Name = name;
    }

    public string Name { get; }

    public static async Task<NetworkNamespace> CreateAsync(string prefix)
    {
        // Namespace names end up in interface-name-sized places (veth peers); keep them short.
        var name = $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        await ExternalProcess.RunOrThrowAsync("ip", ["netns", "add", name], CommandTimeout);
        var ns = new NetworkNamespace(name);
        try
        {
            await ns.ExecOrThrowAsync("ip", "link", "set", "lo", "up");
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }

        return ns;
    }

    /// <summary>Runs a command inside the namespace and returns its result.</summary>
    public Task<ProcessResult> ExecAsync(string program, params string[] args)
        => ExternalProcess.RunAsync("ip", ["netns", "exec", Name, program, .. args], CommandTimeout);

    public Task<ProcessResult> ExecAsync(TimeSpan timeout, string program, params string[] args)
        => ExternalProcess.RunAsync("ip", ["netns", "exec", Name, program, .. args], timeout);

    public Task<ProcessResult> ExecOrThrowAsync(string program, params string[] args)
        => ExternalProcess.RunOrThrowAsync("ip", ["netns", "exec", Name, program, .. args], CommandTimeout);

    /// <summary>Starts a long-running program inside the namespace; its PID is the program's own (ip execs it).</summary>
    public ExternalProcess Start(string program, params string[] args)
        => ExternalProcess.Start("ip", ["netns", "exec", Name, program, .. args]);

    public async ValueTask DisposeAsync()
    {
        await ExternalProcess.RunAsync("ip", ["netns", "delete", Name], CommandTimeout);
    }
}
