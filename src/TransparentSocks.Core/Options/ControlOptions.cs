namespace TransparentSocks.Options;

/// <summary>The local control socket the CLI talks to.</summary>
public sealed class ControlOptions
{
    public const string DefaultSocket = "/run/transparentsocks/control.sock";

    /// <summary>Unix socket path; created by the daemon, owned by root, mode 0660.</summary>
    public string Socket { get; set; } = DefaultSocket;

    /// <summary>Members of this group may use the control socket; if the group does not exist, only root may.</summary>
    public string Group { get; set; } = "transparentsocks";
}
