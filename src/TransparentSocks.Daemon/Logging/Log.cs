using TransparentSocks.Daemon.Control;
using TransparentSocks.Text;

namespace TransparentSocks.Daemon.Logging;

/// <summary>
/// The daemon's log lines, with their event ids in one place. Under systemd an id becomes the journal field
/// EVENTID_ID, so ids are kept unique across the whole process, not just per category, and each subject owns a range:
/// <list type="bullet">
/// <item>1000–1199: the engine (server and sessions 1000–1099, interfaces 1100–1199), in TransparentSocks.Engine's own Log.</item>
/// <item>2000–2099: the control socket and its requests.</item>
/// <item>2100–2199: hosting (start, stop, apply, reload, the transparent path's kernel state), in Log.Hosting.cs.</item>
/// </list>
/// Passwords are never a parameter here: a change is logged in the words its handler chose, which name a user but
/// never a password. Text a control client or an error chose (paths, changes naming users or addresses, parse
/// errors) goes through <see cref="LogText.Escape"/> in the public method of its line.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(2000, LogLevel.Information, "control socket {Path} ready (passed by systemd)")]
    public static partial void ControlSocketPassed(ILogger logger, string path);

    [LoggerMessage(2001, LogLevel.Information, "control socket {Path} ready (owner uid {Uid}, group {Group})")]
    public static partial void ControlSocketReady(ILogger logger, string path, uint uid, string group);

    [LoggerMessage(2002, LogLevel.Warning, "control.group {Group} does not exist: the control socket is for root only")]
    public static partial void ControlGroupMissing(ILogger logger, string group);

    [LoggerMessage(2003, LogLevel.Debug, "control connection ended: {Error}")]
    private static partial void ControlConnectionEndedCore(ILogger logger, string error);

    public static void ControlConnectionEnded(ILogger logger, string error)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ControlConnectionEndedCore(logger, LogText.Escape(error));
        }
    }

    [LoggerMessage(2010, LogLevel.Debug, "control: {Method} {Path} from {Peer}")]
    private static partial void ControlRequestCore(ILogger logger, string method, string path, Peer peer);

    public static void ControlRequest(ILogger logger, string method, string path, Peer peer)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ControlRequestCore(logger, LogText.Escape(method), LogText.Escape(path), peer);
        }
    }

    [LoggerMessage(2011, LogLevel.Warning, "control: refused for {Peer}: {Error}")]
    private static partial void ControlRefusedCore(ILogger logger, Peer peer, string error);

    public static void ControlRefused(ILogger logger, Peer peer, string error)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            ControlRefusedCore(logger, peer, LogText.Escape(error));
        }
    }

    [LoggerMessage(2012, LogLevel.Error, "control: {Method} {Path} failed")]
    public static partial void ControlFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(2020, LogLevel.Information, "control: {Change} by {Peer}")]
    private static partial void ControlChangedCore(ILogger logger, string change, Peer peer);

    public static void ControlChanged(ILogger logger, string change, Peer peer)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            ControlChangedCore(logger, LogText.Escape(change), peer);
        }
    }

    [LoggerMessage(2021, LogLevel.Information, "control: reload by {Peer}")]
    public static partial void ControlReload(ILogger logger, Peer peer);
}
