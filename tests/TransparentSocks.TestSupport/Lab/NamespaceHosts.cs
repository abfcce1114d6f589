using System.Net;

namespace TransparentSocks.TestSupport.Lab;

/// <summary>
/// An /etc/hosts of a namespace's own: <c>ip netns exec NS</c> bind-mounts every file in <c>/etc/netns/NS/</c> over
/// its namesake in /etc, so a program started in the namespace after this is written (danted resolving a name it
/// was asked for, say) sees these entries. Programs started before it, and in-process sockets, do not. Disposing
/// removes the directory; dispose it after the processes that use it and before the namespace.
/// </summary>
public sealed class NamespaceHosts : IDisposable
{
    private readonly string _directory;

    private NamespaceHosts(string directory)
    {
        _directory = directory;
    }

    public static NamespaceHosts Write(NetworkNamespace ns, params (string Name, IPAddress Address)[] entries)
    {
        var directory = Path.Combine("/etc/netns", ns.Name);
        Directory.CreateDirectory(directory);
        var lines = entries.Select(e => $"{e.Address} {e.Name}").Prepend("::1 localhost").Prepend("127.0.0.1 localhost");
        File.WriteAllText(Path.Combine(directory, "hosts"), string.Join('\n', lines) + "\n");
        return new NamespaceHosts(directory);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Already gone.
        }
    }
}
