using System.Runtime.InteropServices;
using TransparentSocks.Linux.Interop;

namespace TransparentSocks.Linux.Sockets;

/// <summary>
/// The native arrays one recvmmsg or sendmmsg call works on: per datagram a header, its one iovec and room for its
/// address. Receiving and sending lay them out alike, so one type allocates and frees them for both.
/// </summary>
internal readonly unsafe struct MessageVector
{
    /// <summary>Room for a sockaddr_in6 (28 bytes), rounded up.</summary>
    public const int NameSpace = 32;

    public readonly MMsgHdr* Messages;
    public readonly IoVec* Iov;
    public readonly byte* Names;

    public MessageVector(int capacity)
    {
        Messages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(MMsgHdr)));
        Iov = (IoVec*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(IoVec)));
        Names = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * NameSpace));
    }

    public void Free()
    {
        NativeMemory.Free(Messages);
        NativeMemory.Free(Iov);
        NativeMemory.Free(Names);
    }
}
