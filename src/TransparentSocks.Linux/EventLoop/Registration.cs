namespace TransparentSocks.Linux.EventLoop;

/// <summary>
/// One fd's place on an <see cref="EventLoop"/>, from <see cref="EventLoop.Register"/>: its epoll events reach the
/// target until <see cref="Unregister"/>. The cookie (slot index and generation) is what epoll hands back with
/// each event, so an event still in flight for an earlier holder of the slot is recognised and dropped.
/// </summary>
internal readonly struct Registration(EventLoop loop, int fd, ulong cookie)
{
    public EventLoop Loop { get; } = loop;

    public int Fd { get; } = fd;

    public ulong Cookie { get; } = cookie;

    /// <summary>Removes the fd from the epoll set and frees its slot. Call it before the fd is closed.</summary>
    public void Unregister() => Loop.Unregister(Fd, Cookie);

    /// <summary>
    /// Frees the slot of an fd about to be closed, without EPOLL_CTL_DEL: the close takes it out of the epoll set,
    /// a syscall fewer per socket. Should a forked child still hold the file for a moment (the daemon runs nft and ip),
    /// an event it delivers carries this slot's old generation and is dropped.
    /// </summary>
    public void ReleaseForClose() => Loop.Release(Cookie);
}
