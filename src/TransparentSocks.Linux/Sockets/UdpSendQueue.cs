using System.Runtime.InteropServices;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// Datagrams waiting to leave through one socket, sent with one sendmmsg. It holds pointers into a
/// <see cref="UdpBatch"/>'s slots, not copies: flush it before that batch is read into again. Queueing for another
/// socket flushes the datagrams of the one before, so a run of datagrams for the same flow goes out in one call.
/// </summary>
public sealed unsafe class UdpSendQueue : IDisposable
{
    private const int NameSpace = MessageVector.NameSpace;

    private readonly MessageVector _vector;
    private UdpSocket? _socket;
    private int _count;
    private bool _disposed;

    public UdpSendQueue(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _vector = new MessageVector(capacity);
    }

    public int Capacity { get; }

    /// <summary>
    /// Queues <paramref name="length"/> bytes at <paramref name="offset"/> of <paramref name="batch"/>'s slot
    /// <paramref name="index"/> for <paramref name="socket"/>, to <paramref name="destination"/> (null: the connected
    /// peer). Returns the datagrams an implied flush could not send.
    /// </summary>
    public int Add(UdpSocket socket, UdpBatch batch, int index, int offset, int length, UdpEndpoint? destination)
    {
        var dropped = 0;
        if ((_socket is not null && !ReferenceEquals(_socket, socket)) || _count == Capacity)
        {
            dropped = Flush();
        }

        _socket = socket;
        ref var message = ref _vector.Messages[_count];
        _vector.Iov[_count].Base = batch.SlotPointer(index) + offset;
        _vector.Iov[_count].Length = (nuint)length;
        message.Header.Iov = &_vector.Iov[_count];
        message.Header.IovLength = 1;
        message.Header.Control = null;
        message.Header.ControlLength = 0;
        message.Header.Flags = 0;
        if (destination is { } to)
        {
            var name = _vector.Names + (_count * NameSpace);
            message.Header.Name = name;
            message.Header.NameLength = (uint)to.Write(new Span<byte>(name, NameSpace), socket.IsIPv6);
        }
        else
        {
            message.Header.Name = null;
            message.Header.NameLength = 0;
        }

        _count++;
        return dropped;
    }

    /// <summary>Sends what is queued; returns how many datagrams the kernel refused (a full buffer, an unreachable peer).</summary>
    public int Flush()
    {
        var socket = _socket;
        var count = _count;
        _socket = null;
        _count = 0;
        if (socket is null || count == 0)
        {
            return 0;
        }

        var fd = socket.Fd;
        if (fd < 0)
        {
            return count;
        }

        var dropped = 0;
        var next = 0;
        while (next < count)
        {
            var sent = Sys.sendmmsg(fd, _vector.Messages + next, (uint)(count - next), Sys.MSG_NOSIGNAL | Sys.MSG_DONTWAIT);
            if (sent > 0)
            {
                next += sent;
                continue;
            }

            if (sent < 0 && Sys.LastErrno == Errno.EINTR)
            {
                continue;
            }

            if (sent < 0 && Sys.LastErrno == Errno.EAGAIN)
            {
                // The socket's buffer is full: the rest would meet the same, and waiting would stall every other flow.
                return dropped + (count - next);
            }

            // This one datagram failed (its destination unreachable, too big): skip it and send the rest.
            dropped++;
            next++;
        }

        return dropped;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _vector.Free();
    }
}
