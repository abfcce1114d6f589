using System.Buffers.Binary;
using System.Net.Sockets;

namespace TransparentSocks.Engine.Sessions;

/// <summary>
/// An IP address and port held inline, 24 bytes in the object that holds it, rather than an IPEndPoint and its
/// IPAddress (80 bytes on the heap): what an established session keeps of its client and destination for hours.
/// </summary>
internal readonly struct PackedEndPoint
{
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly uint _scopeId;
    private readonly ushort _port;
    private readonly byte _family;

    public PackedEndPoint(IPAddress address, int port)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            _ = address.TryWriteBytes(bytes, out _);
            _high = BinaryPrimitives.ReadUInt64BigEndian(bytes);
            _low = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
            _scopeId = (uint)address.ScopeId;
            _family = 6;
        }
        else
        {
            _ = address.TryWriteBytes(bytes, out _);
            _low = BinaryPrimitives.ReadUInt32BigEndian(bytes);
            _family = 4;
        }

        _port = (ushort)port;
    }

    public bool HasValue => _family != 0;

    public int Port => _port;

    /// <summary>A new IPAddress each time: for the listing and the log, not for a hot path.</summary>
    public IPAddress Address
    {
        get
        {
            Span<byte> bytes = stackalloc byte[16];
            if (_family == 6)
            {
                BinaryPrimitives.WriteUInt64BigEndian(bytes, _high);
                BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _low);
                return new IPAddress(bytes, _scopeId);
            }

            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_low);
            return new IPAddress(bytes[..4]);
        }
    }

    public IPEndPoint ToEndPoint() => new(Address, _port);
}
