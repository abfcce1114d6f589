using TransparentSocks.Text;

namespace TransparentSocks.Daemon.Logging;

/// <summary>The daemon's log lines for starting, stopping, reloading and the transparent path: event ids 2100–2199 (see Log.cs).</summary>
internal static partial class Log
{
    [LoggerMessage(2100, LogLevel.Information, "transparentsocksd started with {Loops} event loop(s), relay {Relay}")]
    public static partial void Started(ILogger logger, int loops, RelayMode relay);

    [LoggerMessage(2104, LogLevel.Information, "descriptors: RLIMIT_NOFILE {Limit} (started with {Initial}), up to {Ceiling} for connections, {Reserve} kept free for the runtime")]
    public static partial void DescriptorBudget(ILogger logger, int limit, int initial, int ceiling, int reserve);

    [LoggerMessage(2101, LogLevel.Warning, "neither server.enabled nor transparent.enabled is true: the daemon idles until told otherwise")]
    public static partial void Idle(ILogger logger);

    [LoggerMessage(2102, LogLevel.Information, "stopping: draining sessions for up to {DrainSeconds} s")]
    public static partial void Stopping(ILogger logger, double drainSeconds);

    [LoggerMessage(2103, LogLevel.Information, "transparentsocksd stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(2110, LogLevel.Error, "{What} failed: {Error}")]
    public static partial void SignalWorkFailed(ILogger logger, Exception exception, string what, string error);

    [LoggerMessage(2111, LogLevel.Warning, "cannot restore the default action of {Signal}: {Error}")]
    public static partial void SignalDispositionFailed(ILogger logger, string signal, string error);

    [LoggerMessage(2137, LogLevel.Debug, "memory: after the start, {KiB} KiB of clean file pages unmapped in {Mappings} mappings")]
    public static partial void StartupMemoryReleased(ILogger logger, long kiB, int mappings);

    [LoggerMessage(2136, LogLevel.Debug, "memory: heap trimmed after a burst, working set {BeforeKiB} -> {AfterKiB} KiB in {Milliseconds} ms")]
    public static partial void MemoryTrimmed(ILogger logger, long beforeKiB, long afterKiB, long milliseconds);

    [LoggerMessage(2112, LogLevel.Information, "stats: {Line}")]
    public static partial void Stats(ILogger logger, string line);

    [LoggerMessage(2120, LogLevel.Error, "reload refused, the running configuration stays: {Error}")]
    private static partial void ReloadRefusedCore(ILogger logger, string error);

    public static void ReloadRefused(ILogger logger, string error)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            ReloadRefusedCore(logger, LogText.Escape(error));
        }
    }

    [LoggerMessage(2121, LogLevel.Information, "configuration reloaded from {Path}")]
    public static partial void Reloaded(ILogger logger, string path);

    [LoggerMessage(2122, LogLevel.Error, "change refused: cannot write {Path}: {Error}; the running configuration is unchanged")]
    public static partial void SaveRefused(ILogger logger, string path, string error);

    [LoggerMessage(2123, LogLevel.Error, "could not restore the transparent path after a failed change: {Error}")]
    public static partial void RollbackFailed(ILogger logger, string error);

    [LoggerMessage(2124, LogLevel.Warning, "{Section} changed: it takes effect when the daemon restarts")]
    public static partial void RestartNeeded(ILogger logger, string section);

    [LoggerMessage(2130, LogLevel.Warning, "transparent mode, port, families, UDP or marks changed: the transparent path restarts and its sessions are reset")]
    public static partial void TransparentRestarting(ILogger logger);

    [LoggerMessage(2131, LogLevel.Warning, "{Warning}")]
    public static partial void SystemWarning(ILogger logger, string warning);

    [LoggerMessage(2132, LogLevel.Information, "transparent path up: {Mode} on port {Port}, {Count} interface(s), UDP {Udp}, fwmark 0x{Fwmark:x}, table {Table}")]
    public static partial void TransparentUp(ILogger logger, TransparentMode mode, int port, int count, string udp, uint fwmark, int table);

    [LoggerMessage(2133, LogLevel.Error, "could not remove the nft table: {Error}")]
    public static partial void NftRemoveFailed(ILogger logger, string error);

    [LoggerMessage(2134, LogLevel.Information, "transparent path down: nft table and policy routes removed")]
    public static partial void TransparentDown(ILogger logger);

    [LoggerMessage(2135, LogLevel.Warning, "transparent.udp is on but this kernel has no TPROXY, which REDIRECT mode needs for UDP: UDP is NOT diverted and is forwarded around the proxy (modprobe nft_tproxy, or set transparent.udp to false to silence this): {Error}")]
    public static partial void UdpNotDiverted(ILogger logger, string error);
}
