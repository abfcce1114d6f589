using System.Net;
using System.Net.Sockets;
using TransparentSocks.Linux.EventLoop;
using TransparentSocks.Linux.Interop;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>What a <see cref="UdpSocket"/> tells its owner, on the socket's loop thread.</summary>
public interface IUdpReceiver
{
    /// <summary>
    /// Datagrams (or an error) may be waiting. The registration is edge-triggered: read until EAGAIN, or the
    /// socket is not signalled again.
    /// </summary>
    void OnReadable(UdpSocket socket);
}

/// <summary>
/// A non-blocking UDP socket on one <see cref="Loop"/>, read in batches through <see cref="UdpBatch"/> and written
/// with sendto or <see cref="UdpSendQueue"/>. Sends never wait: a datagram the kernel cannot take now is dropped,
/// which is what UDP promises and what keeps one slow peer from stalling the loop.
/// </summary>
public sealed unsafe class UdpSocket : IReadinessTarget, IDisposable
{
    private readonly Registration _registration;
    private int _fd;

    private UdpSocket(int fd, AddressFamily family, Loop loop, IUdpReceiver? receiver)
    {
        _fd = fd;
        Family = family;
        Receiver = receiver;
        _registration = loop.Register(fd, this, readOnly: true);
    }

    public int Fd => Volatile.Read(ref _fd);

    public AddressFamily Family { get; }

    public bool IsIPv6 => Family == AddressFamily.InterNetworkV6;

    public bool IsClosed => Volatile.Read(ref _fd) < 0;

    /// <summary>
    /// Told when datagrams wait. Settable so that an owner that needs the socket to exist first can take it over; a
    /// socket nobody has sent from receives nothing, so no edge is lost before it is set.
    /// </summary>
    public IUdpReceiver? Receiver { get; set; }

    /// <summary>Whatever the receiver keeps per socket (its flow, its association), so a readable socket needs no lookup.</summary>
    public object? Owner { get; set; }

    long IReadinessTarget.DeadlineMs => 0;

    /// <summary>Opens the socket; EMFILE and the like come back as the errno, never as an exception.</summary>
    public static Errno TryOpen(AddressFamily family, Loop loop, IUdpReceiver? receiver, out UdpSocket? socket)
    {
        if (!FdBudget.TryTake(1))
        {
            socket = null;
            return Errno.EMFILE;
        }

        var af = family == AddressFamily.InterNetworkV6 ? SockAddr.AF_INET6 : SockAddr.AF_INET;
        var fd = Sys.socket(af, Sys.SOCK_DGRAM | Sys.SOCK_NONBLOCK | Sys.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            var error = Sys.LastErrno;
            FdBudget.Release(1);
            socket = null;
            return error;
        }

        try
        {
            socket = new UdpSocket(fd, family, loop, receiver);
            return Errno.None;
        }
        catch (InvalidOperationException)
        {
            Sys.close(fd);
            FdBudget.Release(1);
            socket = null;
            return Errno.ENOMEM;
        }
    }

    void IReadinessTarget.OnEvents(uint events)
    {
        const uint readMask = 0x001 /* IN */ | 0x010 /* HUP */ | 0x008 /* ERR */;
        if ((events & readMask) != 0 && !IsClosed)
        {
            Receiver?.OnReadable(this);
        }
    }

    void IReadinessTarget.OnDeadline()
    {
    }

    public Errno SetReuseAddress() => SocketOptions.Set(_fd, SocketOptions.SOL_SOCKET, SocketOptions.SO_REUSEADDR, 1);

    public Errno SetTransparent() => SocketOptions.SetTransparent(_fd, Family);

    public Errno SetMark(uint mark) => SocketOptions.SetMark(_fd, mark);

    public Errno SetBindToDevice(string interfaceName) => SocketOptions.SetBindToDevice(_fd, interfaceName);

    /// <summary>IPV6_V6ONLY: false lets an IPv6 socket send to and receive from IPv4 peers as ::ffff:a.b.c.d.</summary>
    public Errno SetV6Only(bool on) => SocketOptions.Set(_fd, SocketOptions.IPPROTO_IPV6, SocketOptions.IPV6_V6ONLY, on ? 1 : 0);

    /// <summary>IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR: each datagram's pre-TPROXY destination comes with it.</summary>
    public Errno SetReceiveOriginalDestination() => IsIPv6
        ? SocketOptions.Set(_fd, SocketOptions.IPPROTO_IPV6, SocketOptions.IPV6_RECVORIGDSTADDR, 1)
        : SocketOptions.Set(_fd, SocketOptions.SOL_IP, SocketOptions.IP_RECVORIGDSTADDR, 1);

    public Errno SetReceiveBuffer(int bytes) => SocketOptions.Set(_fd, SocketOptions.SOL_SOCKET, SocketOptions.SO_RCVBUF, bytes);

    public Errno Bind(UdpEndpoint endpoint)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        var length = endpoint.Write(new Span<byte>(sa, SockAddr.MaxLength), IsIPv6);
        return Sys.bind(_fd, sa, (uint)length) == 0 ? Errno.None : Sys.LastErrno;
    }

    public Errno Bind(IPEndPoint endPoint) => Bind(UdpEndpoint.From(endPoint));

    /// <summary>Fixes the peer: the kernel then drops datagrams from anyone else before they reach us.</summary>
    public Errno Connect(UdpEndpoint endpoint)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        var length = endpoint.Write(new Span<byte>(sa, SockAddr.MaxLength), IsIPv6);
        return Sys.connect(_fd, sa, (uint)length) == 0 ? Errno.None : Sys.LastErrno;
    }

    public bool TryGetLocalEndpoint(out UdpEndpoint endpoint)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        uint length = SockAddr.MaxLength;
        endpoint = default;
        return Sys.getsockname(_fd, sa, &length) == 0 && UdpEndpoint.TryRead(new ReadOnlySpan<byte>(sa, (int)length), out endpoint);
    }

    /// <summary>One datagram to <paramref name="destination"/>; EAGAIN means the kernel dropped it for us.</summary>
    public Errno SendTo(ReadOnlySpan<byte> datagram, UdpEndpoint destination)
    {
        var sa = stackalloc byte[SockAddr.MaxLength];
        var length = destination.Write(new Span<byte>(sa, SockAddr.MaxLength), IsIPv6);
        fixed (byte* p = datagram)
        {
            return Sys.sendto(_fd, p, (nuint)datagram.Length, Sys.MSG_NOSIGNAL | Sys.MSG_DONTWAIT, sa, (uint)length) >= 0 ? Errno.None : Sys.LastErrno;
        }
    }

    /// <summary>One datagram to the connected peer.</summary>
    public Errno Send(ReadOnlySpan<byte> datagram)
    {
        fixed (byte* p = datagram)
        {
            return Sys.send(_fd, p, (nuint)datagram.Length, Sys.MSG_NOSIGNAL | Sys.MSG_DONTWAIT) >= 0 ? Errno.None : Sys.LastErrno;
        }
    }

    /// <summary>Unregisters and closes. The owner calls it where it also stops reading, so the fd number cannot be reused under a read.</summary>
    public void Close()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0)
        {
            return;
        }

        _registration.ReleaseForClose();
        Sys.close(fd);
        FdBudget.Release(1);
    }

    public void Dispose() => Close();
}
