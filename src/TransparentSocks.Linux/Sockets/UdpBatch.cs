using System.Runtime.InteropServices;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// Datagram buffers in native memory and the mmsghdr array over them: one recvmmsg call fills up to
/// <see cref="Capacity"/> datagrams with their source and ancillary data, and nothing is allocated per datagram.
/// Each slot keeps <see cref="Headroom"/> bytes free before the datagram, so a SOCKS5 UDP header can be written in
/// front of a payload in place. Pages are touched only by the datagrams that need them, so the batch's resident
/// size follows the traffic, not its 64 KiB slots. Owned by one thread at a time.
/// </summary>
public sealed unsafe class UdpBatch : IDisposable
{
    /// <summary>Room for the largest SOCKS5 UDP header with an IP address (IPv6: 3 + 1 + 16 + 2), rounded up.</summary>
    public const int Headroom = 32;

    /// <summary>The largest UDP payload (IPv4's 65,507, IPv6 jumbo aside), rounded up.</summary>
    public const int MaxDatagram = 65536;

    private const int NameSpace = MessageVector.NameSpace;
    private const int ControlSpace = ControlMessages.OriginalDestinationSpace + 16;

    private readonly MessageVector _vector;
    private readonly byte* _controls;
    private readonly byte* _data;
    private readonly int _slotSize;
    private bool _disposed;

    public UdpBatch(int capacity, int maxDatagram = MaxDatagram)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDatagram, 1);
        Capacity = capacity;
        SlotPayload = maxDatagram;
        _slotSize = Headroom + maxDatagram;
        _vector = new MessageVector(capacity);
        _controls = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * ControlSpace));

        // Not zeroed: zeroing would touch every page, and a slot is only ever read up to what was received into it.
        _data = (byte*)NativeMemory.Alloc((nuint)capacity * (nuint)_slotSize);
    }

    public int Capacity { get; }

    /// <summary>The largest datagram a slot holds; a longer one arrives truncated and is flagged.</summary>
    public int SlotPayload { get; }

    /// <summary>Datagrams the last <see cref="Receive"/> returned.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Reads what is waiting, up to <see cref="Capacity"/> datagrams. Errno.None with <see cref="Count"/> &gt; 0, or
    /// EAGAIN when nothing was; other errors (ECONNREFUSED after an ICMP unreachable on a connected socket) too.
    /// </summary>
    public Errno Receive(UdpSocket socket, bool withControl = false)
    {
        Count = 0;
        for (var i = 0; i < Capacity; i++)
        {
            ref var header = ref _vector.Messages[i].Header;
            _vector.Iov[i].Base = _data + ((nint)i * _slotSize) + Headroom;
            _vector.Iov[i].Length = (nuint)SlotPayload;
            header.Iov = &_vector.Iov[i];
            header.IovLength = 1;
            header.Name = _vector.Names + (i * NameSpace);
            header.NameLength = NameSpace;
            header.Control = withControl ? _controls + (i * ControlSpace) : null;
            header.ControlLength = withControl ? (nuint)ControlSpace : 0;
            header.Flags = 0;
            _vector.Messages[i].Length = 0;
        }

        var fd = socket.Fd;
        if (fd < 0)
        {
            return Errno.EBADF;
        }

        var n = Sys.recvmmsg(fd, _vector.Messages, (uint)Capacity, Sys.MSG_DONTWAIT, 0);
        if (n < 0)
        {
            return Sys.LastErrno;
        }

        Count = n;
        return n == 0 ? Errno.EAGAIN : Errno.None;
    }

    /// <summary>The whole slot: <see cref="Headroom"/> free bytes, then the datagram.</summary>
    public Span<byte> Slot(int index) => new(SlotPointer(index), _slotSize);

    /// <summary>The datagram as received (at <see cref="Headroom"/> in the slot).</summary>
    public Span<byte> Datagram(int index) => new(SlotPointer(index) + Headroom, Length(index));

    public int Length(int index) => (int)Math.Min(_vector.Messages[Check(index)].Length, (uint)SlotPayload);

    /// <summary>The datagram was longer than a slot (or its ancillary data did not fit): it must not be passed on cut.</summary>
    public bool IsTruncated(int index) => (_vector.Messages[Check(index)].Header.Flags & (Sys.MSG_TRUNC | Sys.MSG_CTRUNC)) != 0;

    public bool TryGetSource(int index, out UdpEndpoint source)
    {
        ref var header = ref _vector.Messages[Check(index)].Header;
        return UdpEndpoint.TryRead(new ReadOnlySpan<byte>(header.Name, (int)Math.Min(header.NameLength, (uint)NameSpace)), out source);
    }

    /// <summary>The destination the datagram had before TPROXY diverted it (IP_ORIGDSTADDR).</summary>
    public bool TryGetOriginalDestination(int index, out UdpEndpoint destination)
    {
        ref var header = ref _vector.Messages[Check(index)].Header;
        if (header.Control is null)
        {
            destination = default;
            return false;
        }

        return ControlMessages.TryFindOriginalDestination(
            new ReadOnlySpan<byte>(header.Control, (int)Math.Min(header.ControlLength, (nuint)ControlSpace)), out destination);
    }

    internal byte* SlotPointer(int index) => _data + ((nint)Check(index) * _slotSize);

    private int Check(int index) => (uint)index < (uint)Capacity ? index : throw new ArgumentOutOfRangeException(nameof(index));

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _vector.Free();
        NativeMemory.Free(_controls);
        NativeMemory.Free(_data);
    }
}
