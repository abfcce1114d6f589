using TransparentSocks.Socks;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Udp;

/// <summary>
/// A SOCKS5 UDP ASSOCIATE with an upstream (RFC 1928 §7): the TCP control connection the association lives as long
/// as, and a socket connected to the relay address the upstream answered. Connecting it makes the kernel drop
/// datagrams from anyone but that relay, so a stranger who finds the port cannot inject replies.
/// </summary>
internal sealed class Socks5UdpAssociation : UdpAssociation
{
    // The control connection carries nothing after the reply; what a broken upstream might still send is read into
    // this and thrown away. Shared: its contents never matter.
    private static readonly byte[] Discard = new byte[64];

    private readonly LinuxSocket _control;
    private readonly UdpSocket _socket;
    private readonly UdpEndpoint _relay;

    private Socks5UdpAssociation(UdpRuntime runtime, UdpStats stats, LinuxSocket control, UdpSocket socket, UdpEndpoint relay)
        : base(runtime, stats)
    {
        _control = control;
        _socket = socket;
        _relay = relay;
        socket.Receiver = this;
    }

    public override string Describe => $"relay {_relay}";

    public override int Fds => 2;

    public override bool TakesFramed => true;

    /// <summary>
    /// Opens the control connection (connect and authenticate, as for a CONNECT, with its marks and deadlines),
    /// asks for the association, and connects a socket to the relay the upstream names.
    /// </summary>
    /// <param name="openControl">The dialer's connect-and-authenticate step, which leaves the handshake deadline armed.</param>
    public static async ValueTask<UdpAssociateResult> OpenAsync(
        UdpRuntime runtime, UdpStats stats, Func<Loop, CancellationToken, ValueTask<DialResult>> openControl, Destination server, uint mark,
        CancellationToken cancellationToken)
    {
        var opened = await openControl(runtime.Loop, cancellationToken).ConfigureAwait(false);
        if (!opened.Succeeded)
        {
            return UdpAssociateResult.Fail(opened.Error, opened.Detail ?? "unreachable");
        }

        var control = opened.Socket!;
        var upstream = opened.Remote!;

        // All zeros: "I do not know yet which address I will send from" (RFC 1928 §7). The address we would name
        // is often not the one the upstream sees (NAT, a second address), and an upstream that checks would then
        // drop every datagram; with zeros it takes the first datagram's source.
        var any = upstream.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
        Socks5Outcome outcome;
        using (Connector.AbortOnCancel(control, cancellationToken))
        {
            outcome = await Socks5Client.RequestAsync(control, Socks5Command.UdpAssociate, Destination.FromAddress(any, 0)).ConfigureAwait(false);
        }

        control.DeadlineMs = 0;
        if (cancellationToken.IsCancellationRequested || !outcome.Ok)
        {
            control.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            return outcome.Error == DialError.UpstreamRejected
                ? UdpAssociateResult.Fail(DialError.UpstreamRejected, $"upstream {server} replied {outcome.Reply} to UDP ASSOCIATE")
                : UdpAssociateResult.Fail(outcome.Error, $"upstream {server}: {outcome.Detail}");
        }

        if (RelayOf(outcome.Bound, upstream) is not { } relay)
        {
            control.Dispose();
            return UdpAssociateResult.Fail(DialError.UpstreamProtocolError, $"upstream {server} answered UDP ASSOCIATE with relay {outcome.Bound}, which cannot be sent to");
        }

        UdpSocket? socket;
        Errno error;
        lock (runtime.Gate)
        {
            error = UdpSocket.TryOpen(relay.Family, runtime.Loop, null, out socket);
            if (error == Errno.None)
            {
                if (mark != 0)
                {
                    _ = socket!.SetMark(mark);
                }

                error = socket!.Connect(relay);
                if (error != Errno.None)
                {
                    socket.Close();
                }
            }
        }

        if (error != Errno.None)
        {
            control.Dispose();
            return UdpAssociateResult.Fail(
                error is Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM or Errno.ENOBUFS ? DialError.ResourceExhausted : DialError.UpstreamUnavailable,
                $"upstream {server}: UDP socket to relay {relay}: {error.Describe()}");
        }

        _ = control.SetKeepAlive();
        var association = new Socks5UdpAssociation(runtime, stats, control, socket!, relay);
        _ = association.WatchControlAsync();
        return UdpAssociateResult.Opened(association);
    }

    /// <summary>
    /// Where to send datagrams. A BND.ADDR of 0.0.0.0 or :: means "where you reached me" (sing-box, and servers
    /// behind NAT, answer so); a name is not resolved on the data path, and the upstream's own address stands in.
    /// </summary>
    internal static UdpEndpoint? RelayOf(Destination bound, IPEndPoint upstream)
    {
        if (bound.Port is <= 0 or > 65535)
        {
            return null;
        }

        var address = bound.IsDomain || bound.Address is null || bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any)
            ? upstream.Address
            : bound.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return UdpEndpoint.From(new IPEndPoint(address, bound.Port));
    }

    /// <summary>The association lasts as long as its control connection: the upstream closing it ends the flow.</summary>
    private async Task WatchControlAsync()
    {
        var reason = "upstream closed the association";
        try
        {
            while (true)
            {
                var received = await _control.ReceiveAsync(Discard).ConfigureAwait(false);
                if (received.HasError)
                {
                    reason = received.Error == Errno.ECANCELED ? "closed" : $"control connection: {received.Error.Describe()}";
                    break;
                }

                if (received.Bytes == 0)
                {
                    break;
                }
            }
        }
        finally
        {
            EndedByPeer(reason);
            _control.Dispose();
        }
    }

    public override int Enqueue(int slot, int offset, int length, UdpEndpoint destination)
    {
        var batch = Runtime.Batch;
        Span<byte> address = stackalloc byte[16];
        var header = Socks5Codec.WriteUdpHeaderBefore(batch.Slot(slot)[..offset], address[..destination.WriteAddressBytes(address)], destination.Port);
        return Runtime.Queue.Add(_socket, batch, slot, offset - header, length + header, null);
    }

    public override int EnqueueFramed(int slot, int offset, int length) => Runtime.Queue.Add(_socket, Runtime.Batch, slot, offset, length, null);

    public override Errno SendNow(ReadOnlySpan<byte> payload, UdpEndpoint destination)
    {
        var scratch = Runtime.Scratch.AsSpan();
        Span<byte> address = stackalloc byte[16];
        var header = Socks5Codec.WriteUdpHeaderBefore(scratch[..UdpBatch.Headroom], address[..destination.WriteAddressBytes(address)], destination.Port);
        payload.CopyTo(scratch[UdpBatch.Headroom..]);
        return _socket.Send(scratch.Slice(UdpBatch.Headroom - header, header + payload.Length));
    }

    protected override UdpDropReason? Unwrap(UdpBatch batch, int slot, out UdpEndpoint source, out int offset, out int length)
    {
        source = default;
        offset = 0;
        length = 0;
        var datagram = batch.Datagram(slot);
        if (Socks5UdpFrames.Parse(datagram, out var header) is { } refused)
        {
            return refused;
        }

        // A reply must leave from its source's address; a name cannot be bound to.
        if (header.Address.Type == Socks5AddressType.DomainName
            || !UdpEndpoint.TryFromAddressBytes(datagram.Slice(header.Address.Offset, header.Address.Length), header.Address.Port, out source))
        {
            return UdpDropReason.Unresolvable;
        }

        offset = UdpBatch.Headroom + header.HeaderLength;
        length = datagram.Length - header.HeaderLength;
        return null;
    }

    protected override void CloseCore()
    {
        _socket.Close();

        // The watcher wakes with ECANCELED and disposes the control connection: it is the one with a read in flight.
        _control.Abort(Errno.ECANCELED);
    }
}
