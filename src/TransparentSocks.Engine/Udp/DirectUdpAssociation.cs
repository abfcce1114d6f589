using System.Net.Sockets;

namespace TransparentSocks.Engine.Udp;

/// <summary>
/// Straight to the destinations from one unconnected socket: dual-stack where the host has IPv6, so one socket
/// reaches both families. Replies are taken from any address (endpoint-independent, as a full-cone NAT).
/// </summary>
internal sealed class DirectUdpAssociation : UdpAssociation
{
    private readonly UdpSocket _socket;
    private readonly bool _dualStack;

    private DirectUdpAssociation(UdpRuntime runtime, UdpStats stats, UdpSocket socket, bool dualStack)
        : base(runtime, stats)
    {
        _socket = socket;
        _dualStack = dualStack;
        socket.Receiver = this;
    }

    public override string Describe => "direct";

    public override int Fds => 1;

    /// <summary>Opens the socket; under the gate, since the socket is live on the loop as soon as it exists.</summary>
    public static UdpAssociateResult Open(UdpRuntime runtime, UdpStats stats, uint mark)
    {
        lock (runtime.Gate)
        {
            var error = UdpSocket.TryOpen(AddressFamily.InterNetworkV6, runtime.Loop, null, out var socket);
            var dualStack = error == Errno.None && socket!.SetV6Only(false) == Errno.None;
            if (error == Errno.None && !dualStack)
            {
                socket!.Close();
            }

            if (!dualStack)
            {
                // No IPv6 on this host: IPv4 only.
                error = UdpSocket.TryOpen(AddressFamily.InterNetwork, runtime.Loop, null, out socket);
            }

            if (error != Errno.None)
            {
                return UdpAssociateResult.Fail(error is Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM or Errno.ENOBUFS ? DialError.ResourceExhausted : DialError.NetworkUnreachable, $"socket(): {error.Describe()}");
            }

            if (mark != 0)
            {
                _ = socket!.SetMark(mark);
            }

            var association = new DirectUdpAssociation(runtime, stats, socket!, dualStack);
            return UdpAssociateResult.Opened(association);
        }
    }

    public override int Enqueue(int slot, int offset, int length, UdpEndpoint destination)
    {
        if (!_dualStack && !destination.IsIPv4)
        {
            return 1;
        }

        return Runtime.Queue.Add(_socket, Runtime.Batch, slot, offset, length, destination);
    }

    public override Errno SendNow(ReadOnlySpan<byte> payload, UdpEndpoint destination)
        => !_dualStack && !destination.IsIPv4 ? Errno.EAFNOSUPPORT : _socket.SendTo(payload, destination);

    protected override UdpDropReason? Unwrap(UdpBatch batch, int slot, out UdpEndpoint source, out int offset, out int length)
    {
        offset = UdpBatch.Headroom;
        length = batch.Length(slot);
        return batch.TryGetSource(slot, out source) ? null : UdpDropReason.Malformed;
    }

    protected override void CloseCore() => _socket.Close();
}
