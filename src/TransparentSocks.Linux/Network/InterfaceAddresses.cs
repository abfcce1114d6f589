using System.Net;
using System.Runtime.InteropServices;
using TransparentSocks.Linux.Sockets;

namespace TransparentSocks.Linux.Network;

/// <summary>
/// The IPv4 and IPv6 addresses on this network namespace's interfaces, from getifaddrs(3). It is where
/// <see cref="System.Net.NetworkInformation.NetworkInterface"/> gets them too, but that also builds every interface's
/// properties (routes from /proc/net, DNS servers from /etc/resolv.conf, statistics) on each call: about 70 KB of
/// garbage per call on a host with five addresses, where this allocates the addresses and a list.
/// </summary>
public static unsafe partial class InterfaceAddresses
{
    /// <summary>Every address of every interface (an address on two interfaces appears twice), or null when getifaddrs fails.</summary>
    public static List<IPAddress>? Read()
    {
        IfAddrs* head;
        if (getifaddrs(&head) != 0)
        {
            return null;
        }

        try
        {
            var addresses = new List<IPAddress>();
            for (var entry = head; entry != null; entry = entry->Next)
            {
                // struct sockaddr_in / sockaddr_in6: the family first, the address at 4 / 8, IPv6's scope id at 24.
                var sa = entry->Addr;
                if (sa == null)
                {
                    continue;
                }

                switch (*(ushort*)sa)
                {
                    case SockAddr.AF_INET:
                        addresses.Add(new IPAddress(new ReadOnlySpan<byte>(sa + 4, 4)));
                        break;
                    case SockAddr.AF_INET6:
                        addresses.Add(new IPAddress(new ReadOnlySpan<byte>(sa + 8, 16), *(uint*)(sa + 24)));
                        break;
                }
            }

            return addresses;
        }
        finally
        {
            freeifaddrs(head);
        }
    }

    /// <summary>struct ifaddrs (glibc and musl, every 64-bit and 32-bit ABI: pointers and an unsigned int).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct IfAddrs
    {
        public IfAddrs* Next;
        public byte* Name;
        public uint Flags;
        public byte* Addr;
        public byte* Netmask;
        public byte* BroadOrDstAddr;
        public void* Data;
    }

    [LibraryImport("libc")]
    private static partial int getifaddrs(IfAddrs** list);

    [LibraryImport("libc")]
    private static partial void freeifaddrs(IfAddrs* list);
}
