namespace TransparentSocks.Daemon.Hosting;

/// <summary>Where the daemon's configuration came from, so that reload and the control API can read and write it.</summary>
internal sealed record ConfigSource(string Path)
{
    public string Directory => System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(Path)) ?? "/";
}

/// <summary>A change the daemon could not make; nothing of it was applied.</summary>
internal sealed class ApplyException : Exception
{
    public ApplyException(string code, string message, string? field = null)
        : base(message)
    {
        Code = code;
        Field = field;
    }

    public string Code { get; }

    public string? Field { get; }
}
