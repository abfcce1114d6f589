using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>The outcome of a socket operation: a byte count or an errno, never an exception.</summary>
public readonly struct SocketResult
{
    public SocketResult(int bytes, Errno error)
    {
        Bytes = bytes;
        Error = error;
    }

    public int Bytes { get; }

    public Errno Error { get; }

    public bool HasError => Error != Errno.None;

    public static SocketResult Ok(int bytes) => new(bytes, Errno.None);

    public static SocketResult Fail(Errno error) => new(0, error);

    public override string ToString() => HasError ? Error.Describe() : $"{Bytes} bytes";
}
