namespace TransparentSocks.Control;

/// <summary>
/// The control protocol: HTTP/1.1 with JSON bodies over the daemon's Unix socket, versioned in the path.
/// Every route is listed here so the daemon and the CLI cannot drift apart. Errors come back as
/// <see cref="ErrorResponse"/> with a stable <see cref="ErrorCodes">code</see> and a non-2xx status.
/// </summary>
public static class ControlApi
{
    public const string Version = "v1";

    /// <summary>GET → <see cref="StatusResponse"/>: global settings, the upstream, the server and every interface.</summary>
    public const string Status = "/v1/status";

    /// <summary>GET → <see cref="ServerInfo"/>.</summary>
    public const string Server = "/v1/server";

    /// <summary>POST <see cref="ServerStartRequest"/> → <see cref="ServerInfo"/>. Restarts the listener if it runs.</summary>
    public const string ServerStart = "/v1/server/start";

    /// <summary>POST (no body) → <see cref="ServerInfo"/>. Sessions in flight continue.</summary>
    public const string ServerStop = "/v1/server/stop";

    /// <summary>GET ?iface=NAME&amp;limit=N → <see cref="SessionsResponse"/>, oldest first.</summary>
    public const string Sessions = "/v1/sessions";

    /// <summary>GET → <see cref="UpstreamsResponse"/>.</summary>
    public const string Upstreams = "/v1/upstreams";

    /// <summary>PUT <see cref="SetEndpointRequest"/> → <see cref="UpstreamInfo"/>: the default upstream.</summary>
    public const string Endpoint = "/v1/settings/endpoint";

    /// <summary>PUT <see cref="SetTimeoutRequest"/> → <see cref="SettingsInfo"/>: the idle timeout of new sessions (server and interfaces).</summary>
    public const string Timeout = "/v1/settings/timeout";

    /// <summary>PUT <see cref="SetPoolingRequest"/> → <see cref="SettingsInfo"/>.</summary>
    public const string Pooling = "/v1/settings/pooling";

    /// <summary>PUT <see cref="SetMaxPoolSizeRequest"/> → <see cref="SettingsInfo"/>.</summary>
    public const string MaxPoolSize = "/v1/settings/max-pool-size";

    /// <summary>PUT <see cref="SetVerboseRequest"/> → <see cref="SettingsInfo"/>: debug logging on or off, at once.</summary>
    public const string Verbose = "/v1/settings/verbose";

    /// <summary>POST (no body) → <see cref="MessageResponse"/>: re-read the configuration file, like SIGHUP.</summary>
    public const string Reload = "/v1/reload";

    public const string InterfacesPrefix = "/v1/interfaces/";

    /// <summary>GET → <see cref="InterfaceInfo"/>; 404 <c>not_found</c> when the interface is not enabled.</summary>
    public static string Interface(string name) => InterfacesPrefix + Uri.EscapeDataString(name);

    /// <summary>POST <see cref="EnableInterfaceRequest"/> → <see cref="InterfaceInfo"/>. Enabling an enabled interface updates it.</summary>
    public static string InterfaceEnable(string name) => Interface(name) + "/enable";

    /// <summary>POST (no body) → <see cref="MessageResponse"/>; 404 <c>not_found</c> when it was not enabled.</summary>
    public static string InterfaceDisable(string name) => Interface(name) + "/disable";

    public const string UpstreamsPrefix = "/v1/upstreams/";

    /// <summary>
    /// POST <see cref="SetUpstreamRequest"/> → <see cref="UpstreamInfo"/>: adds the named upstream, or replaces its
    /// protocol, address and credentials (its timeouts and pooling stay).
    /// </summary>
    public static string UpstreamSet(string name) => UpstreamsPrefix + Uri.EscapeDataString(name) + "/set";

    /// <summary>
    /// POST (no body) → <see cref="MessageResponse"/>; 404 <c>not_found</c> when there is no such upstream, 409
    /// <c>failed_precondition</c> naming every user while a group, an interface or the server still names it.
    /// </summary>
    public static string UpstreamRemove(string name) => UpstreamsPrefix + Uri.EscapeDataString(name) + "/remove";

    public const string GroupsPrefix = "/v1/groups/";

    /// <summary>POST <see cref="SetGroupRequest"/> → <see cref="UpstreamInfo"/>: adds the named group, or replaces it whole.</summary>
    public static string GroupSet(string name) => GroupsPrefix + Uri.EscapeDataString(name) + "/set";

    /// <summary>POST (no body) → <see cref="MessageResponse"/>; 404 and 409 as for <see cref="UpstreamRemove"/>.</summary>
    public static string GroupRemove(string name) => GroupsPrefix + Uri.EscapeDataString(name) + "/remove";
}

/// <summary>The stable error codes of <see cref="ErrorBody.Code"/>.</summary>
public static class ErrorCodes
{
    /// <summary>A value was refused; <see cref="ErrorBody.Field"/> names it. HTTP 400.</summary>
    public const string InvalidArgument = "invalid_argument";

    /// <summary>The body is not the JSON the route expects. HTTP 400.</summary>
    public const string InvalidJson = "invalid_json";

    /// <summary>No such route, interface or session. HTTP 404.</summary>
    public const string NotFound = "not_found";

    /// <summary>The method is not allowed on the route. HTTP 405.</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>
    /// The system refused the change (nft, a bind, a missing interface), or the configuration does (an upstream or a
    /// group that something still names cannot be removed); nothing changed. HTTP 409.
    /// </summary>
    public const string FailedPrecondition = "failed_precondition";

    /// <summary>A bug; the daemon logged it. HTTP 500.</summary>
    public const string Internal = "internal";
}
