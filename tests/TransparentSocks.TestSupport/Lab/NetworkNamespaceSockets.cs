using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace TransparentSocks.TestSupport.Lab;

/// <summary>
/// Creates in-process sockets that live in another network namespace. A socket belongs to the
/// namespace of the thread that created it, for its whole life, whichever thread later uses it. So
/// a factory runs on a fresh thread that has switched (setns) into the namespace, and everything it
/// creates synchronously stays there: <c>ns.CreateInside(() =&gt; new HttpTarget(IPAddress.Any, port: 80))</c>
/// listens inside <c>ns</c>, and its accepted connections and recorded clients are the namespace's own.
/// This is why the lab needs no server processes (ncat, socat): the targets that loopback tests
/// already trust run unchanged in the target namespace, with exact peer addresses, hashes and
/// half-close behaviour, and the client end of an exchange is an ordinary in-process socket too.
/// </summary>
/// <remarks>
/// The danger is a thread the factory starts: threads inherit the namespace, and a thread-pool
/// worker born there would put sockets of unrelated later tests in the wrong namespace. Factories
/// must therefore only create sockets and objects (no Task.Run, timers or waits). The socket engine
/// is started in our own namespace first, and after each factory the process's threads are checked;
/// a stray one fails loudly instead of breaking some other test at random.
/// </remarks>
public static partial class NetworkNamespaceSockets
{
    private const int CloneNewNet = 0x40000000;

    // The runtime's tiered-compilation worker may be started from whichever thread crosses a call
    // count threshold; it only compiles code and never opens sockets.
    private const string HarmlessThreadName = ".NET Tiered Com";

    private static readonly ConcurrentDictionary<int, byte> SwitchedThreads = new();
    private static readonly Lazy<bool> SocketEngineStarted = new(StartSocketEngine);

    /// <summary>Runs <paramref name="factory"/> inside <paramref name="ns"/> and returns what it built.</summary>
    public static T CreateInside<T>(this NetworkNamespace ns, Func<T> factory)
    {
        _ = SocketEngineStarted.Value;
        var home = ReadNamespaceLink("/proc/thread-self/ns/net");
        T? result = default;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = RunSwitched(ns, factory);
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
        })
        {
            IsBackground = true,
            Name = "netns factory",
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        ThrowIfStrayThreads(ns, home, result);
        return result!;
    }

    /// <summary>A TCP socket created inside <paramref name="ns"/>, not yet bound or connected.</summary>
    public static Socket CreateTcpSocket(this NetworkNamespace ns, AddressFamily family)
        => ns.CreateInside(() => new Socket(family, SocketType.Stream, ProtocolType.Tcp));

    /// <summary>
    /// A UDP socket created inside <paramref name="ns"/> and bound to <paramref name="local"/> (port 0 for
    /// any), so its datagrams leave with that namespace's routes and source addresses.
    /// </summary>
    public static Socket CreateUdpSocket(this NetworkNamespace ns, IPEndPoint local)
        => ns.CreateInside(() =>
        {
            var socket = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                socket.Bind(local);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        });

    private static T RunSwitched<T>(NetworkNamespace ns, Func<T> factory)
    {
        var tid = GetTid();
        SwitchedThreads[tid] = 0;
        try
        {
            using var home = File.OpenHandle("/proc/thread-self/ns/net");
            using (var target = File.OpenHandle($"/run/netns/{ns.Name}"))
            {
                SetNamespace(target, ns.Name);
            }

            try
            {
                return factory();
            }
            finally
            {
                // The thread ends right after this, but returning first keeps the stray-thread check exact.
                SetNamespace(home, "the test's own namespace");
            }
        }
        finally
        {
            SwitchedThreads.TryRemove(tid, out _);
        }
    }

    private static void SetNamespace(Microsoft.Win32.SafeHandles.SafeFileHandle handle, string description)
    {
        if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
        {
            throw new InvalidOperationException(
                $"setns into {description} failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }
    }

    private static void ThrowIfStrayThreads<T>(NetworkNamespace ns, string home, T? result)
    {
        var strays = new List<string>();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            var tid = int.Parse(Path.GetFileName(task), System.Globalization.CultureInfo.InvariantCulture);
            if (SwitchedThreads.ContainsKey(tid))
            {
                continue;
            }

            string link;
            string name;
            try
            {
                // A thread that exited while we looked has no link left: it cannot be a stray.
                var target = new FileInfo(Path.Combine(task, "ns", "net")).LinkTarget;
                if (target is null)
                {
                    continue;
                }

                link = target;
                name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // The thread exited while we looked.
            }

            if (link != home && name != HarmlessThreadName)
            {
                strays.Add($"{tid} '{name}' in {link}");
            }
        }

        if (strays.Count > 0)
        {
            DisposeQuietly(result);
            throw new InvalidOperationException(
                $"A factory run inside {ns.Name} left threads in another network namespace ({string.Join(", ", strays)}); "
                + "factories must create sockets and objects only, without starting threads or queueing work.");
        }
    }

    private static void DisposeQuietly(object? built)
    {
        try
        {
            switch (built)
            {
                case IAsyncDisposable asyncDisposable:
                    asyncDisposable.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }
        }
        catch (Exception)
        {
            // The stray thread is the failure worth reporting.
        }
    }

    // The link reads like net:[4026531840]; the number identifies the namespace.
    private static string ReadNamespaceLink(string path)
        => new FileInfo(path).LinkTarget ?? throw new InvalidOperationException($"{path} is not a namespace link.");

    // The socket engine's threads are created on first use, by the thread that used it; make sure
    // that happens here, in the test's own namespace, and never on a switched thread.
    private static bool StartSocketEngine()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var pending = listener.AcceptAsync();
        listener.Dispose();
        try
        {
            pending.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Expected: the accept only had to register with the engine.
        }

        return true;
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nsType);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();
}
