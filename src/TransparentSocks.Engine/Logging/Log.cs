using TransparentSocks.Text;

namespace TransparentSocks.Engine.Logging;

/// <summary>
/// Every log line of the engine, with its event id in one place. Credentials are never a parameter here.
/// Text a peer chose (user and domain names, handshake and dial reasons that quote them, an upstream's answers) goes
/// through <see cref="LogText.Escape"/> in the public method of its line, so no caller can forget it; the generated
/// method behind it is private. The escape runs only when the line is enabled.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "SOCKS5 server listening on {Listen} (auth {Auth}, outbound {Outbound})")]
    public static partial void ServerListening(ILogger logger, IPEndPoint listen, string auth, string outbound);

    [LoggerMessage(1001, LogLevel.Information, "SOCKS5 server on {Listen} stopped")]
    public static partial void ServerStopped(ILogger logger, IPEndPoint listen);

    [LoggerMessage(1002, LogLevel.Warning, "accept failed on {Listen}: {Error}")]
    public static partial void AcceptFailed(ILogger logger, IPEndPoint listen, string error);

    [LoggerMessage(1003, LogLevel.Warning, "accept paused on {Listen}: {Error}; retrying with back-off, one line when it ends")]
    public static partial void AcceptPaused(ILogger logger, IPEndPoint listen, string error);

    [LoggerMessage(1004, LogLevel.Warning, "accept resumed on {Listen} after {Milliseconds} ms out of descriptors ({Error}): {Attempts} attempt(s) held back, {Closed} connection(s) closed unserved")]
    public static partial void AcceptResumed(ILogger logger, IPEndPoint listen, long milliseconds, string error, int attempts, int closed);

    [LoggerMessage(1010, LogLevel.Debug, "session {SessionId}: client {Client} rejected: {Reason}")]
    public static partial void ClientRejected(ILogger logger, long sessionId, IPEndPoint client, string reason);

    [LoggerMessage(1011, LogLevel.Debug, "client {Client} rejected: {Reason}")]
    public static partial void ConnectionRejected(ILogger logger, IPEndPoint client, string reason);

    [LoggerMessage(1012, LogLevel.Information, "session {SessionId}: authentication failed for user {User} from {Client}")]
    private static partial void AuthFailedCore(ILogger logger, long sessionId, string user, IPEndPoint client);

    public static void AuthFailed(ILogger logger, long sessionId, string user, IPEndPoint client)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            AuthFailedCore(logger, sessionId, LogText.Escape(user), client);
        }
    }

    [LoggerMessage(1013, LogLevel.Debug, "session {SessionId}: handshake from {Client} failed: {Reason}")]
    private static partial void HandshakeFailedCore(ILogger logger, long sessionId, IPEndPoint client, string reason);

    public static void HandshakeFailed(ILogger logger, long sessionId, IPEndPoint client, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            HandshakeFailedCore(logger, sessionId, client, LogText.Escape(reason));
        }
    }

    [LoggerMessage(1020, LogLevel.Debug, "session {SessionId}: {Client} -> {Destination} via {Upstream}")]
    private static partial void SessionConnectedCore(ILogger logger, long sessionId, IPEndPoint client, string destination, string upstream);

    public static void SessionConnected(ILogger logger, long sessionId, IPEndPoint client, Destination destination, string upstream)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            SessionConnectedCore(logger, sessionId, client, LogText.Escape(destination.ToString()), upstream);
        }
    }

    [LoggerMessage(1021, LogLevel.Information, "session {SessionId}: {Client} -> {Destination} via {Upstream} failed: {Reason}")]
    private static partial void DialFailedCore(ILogger logger, long sessionId, IPEndPoint client, string destination, string upstream, string reason);

    public static void DialFailed(ILogger logger, long sessionId, IPEndPoint client, Destination destination, string upstream, string reason)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            DialFailedCore(logger, sessionId, client, LogText.Escape(destination.ToString()), upstream, LogText.Escape(reason));
        }
    }

    [LoggerMessage(1023, LogLevel.Debug, "session {SessionId}: {Client} -> {Destination}: {Protocol} names {Host}, {Decision}")]
    public static partial void Sniffed(ILogger logger, long sessionId, IPEndPoint client, IPEndPoint destination, string protocol, string host, string decision);

    [LoggerMessage(1024, LogLevel.Debug, "session {SessionId}: {Client} -> {Destination}: no name sniffed ({Reason})")]
    public static partial void NothingSniffed(ILogger logger, long sessionId, IPEndPoint client, IPEndPoint destination, string reason);

    [LoggerMessage(1025, LogLevel.Debug, "session {SessionId}: {Client} -> {Destination}: {Protocol} without a usable name ({Error})")]
    public static partial void SniffedWithoutName(ILogger logger, long sessionId, IPEndPoint client, IPEndPoint destination, string protocol, Sniffing.SniffedNameError error);

    [LoggerMessage(1026, LogLevel.Debug, "client {Client} on {Interface} failed while its first bytes were awaited: {Error}")]
    public static partial void SniffClientFailed(ILogger logger, IPEndPoint client, string @interface, string error);

    [LoggerMessage(1022, LogLevel.Debug, "session {SessionId}: closed: {Result}")]
    public static partial void SessionClosed(ILogger logger, long sessionId, string result);

    [LoggerMessage(1030, LogLevel.Error, "session {SessionId}: unexpected failure")]
    public static partial void SessionCrashed(ILogger logger, long sessionId, Exception exception);

    [LoggerMessage(1100, LogLevel.Information, "interface {Interface} enabled: {Mode} on port {Port}, upstream {Upstream}")]
    public static partial void InterfaceEnabled(ILogger logger, string @interface, string mode, int port, string upstream);

    [LoggerMessage(1101, LogLevel.Information, "interface {Interface} disabled; its running sessions continue")]
    public static partial void InterfaceDisabled(ILogger logger, string @interface);

    [LoggerMessage(1200, LogLevel.Debug, "udp {Ingress}: flow {Client} -> {Destination} opened via {Upstream}")]
    public static partial void UdpFlowOpened(ILogger logger, string ingress, UdpEndpoint client, UdpEndpoint destination, string upstream);

    [LoggerMessage(1201, LogLevel.Debug, "udp {Ingress}: flow {Client}: association via {Upstream} failed: {Reason}")]
    private static partial void UdpAssociateFailedCore(ILogger logger, string ingress, UdpEndpoint client, string upstream, string reason);

    public static void UdpAssociateFailed(ILogger logger, string ingress, UdpEndpoint client, string upstream, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            UdpAssociateFailedCore(logger, ingress, client, upstream, LogText.Escape(reason));
        }
    }

    [LoggerMessage(1202, LogLevel.Debug, "udp {Ingress}: flow {Client} closed ({Reason}): {Up} datagrams up, {Down} down")]
    public static partial void UdpFlowClosed(ILogger logger, string ingress, UdpEndpoint client, string reason, long up, long down);

    [LoggerMessage(1203, LogLevel.Error, "udp {Ingress}: unexpected failure")]
    public static partial void UdpCrashed(ILogger logger, string ingress, Exception exception);

    [LoggerMessage(1204, LogLevel.Information, "udp {Ingress}: relaying diverted UDP on port {Port}")]
    public static partial void UdpInterfaceEnabled(ILogger logger, string ingress, int port);

    [LoggerMessage(1205, LogLevel.Information, "udp {Ingress}: association {Client} on {Relay} opened via {Upstream}")]
    public static partial void UdpAssociationOpened(ILogger logger, string ingress, IPEndPoint client, UdpEndpoint relay, string upstream);

    [LoggerMessage(1206, LogLevel.Debug, "udp {Ingress}: association {Client} closed ({Reason}): {Up} datagrams up, {Down} down")]
    public static partial void UdpAssociationClosed(ILogger logger, string ingress, IPEndPoint client, string reason, long up, long down);

    [LoggerMessage(1300, LogLevel.Warning, "group {Group}: upstream {Member} is down ({Reason}): {Detail}")]
    private static partial void UpstreamDownCore(ILogger logger, string group, string member, string reason, string detail);

    public static void UpstreamDown(ILogger logger, string group, string member, string reason, string detail)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            UpstreamDownCore(logger, group, member, reason, LogText.Escape(detail));
        }
    }

    [LoggerMessage(1301, LogLevel.Information, "group {Group}: upstream {Member} is up again")]
    public static partial void UpstreamUp(ILogger logger, string group, string member);
}
