using System.Reflection;
using System.Runtime.CompilerServices;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>
/// Keeps the fd-leak checks of the <see cref="Inbound.FdSensitive"/> collection from counting an assembly load.
/// </summary>
/// <remarks>
/// The test adapter (xunit.runner.visualstudio, Microsoft.TestPlatform.CoreUtilities) references
/// Microsoft.Win32.Registry, and the tiered JIT loads it on its background thread once one of the adapter's methods
/// gets hot, which depends on how many results have been reported. A loaded assembly keeps two fds open, so with this
/// assembly's current test count the load lands inside Socks5ServerBadInputTests.Greeting_HalfSentThenSilence and
/// reads as a leak. Loading it before any test runs takes it out of every fd window. The lasting fix is an
/// <c>FdCounter</c> that counts only sockets, pipes and anonymous inodes; this lives here because the pool change may
/// not touch TestSupport or Inbound.
/// </remarks>
internal static class TestRunnerAssemblyPreload
{
    [ModuleInitializer]
    internal static void Load() => Assembly.Load("Microsoft.Win32.Registry");
}
