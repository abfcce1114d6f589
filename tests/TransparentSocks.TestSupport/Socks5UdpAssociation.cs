using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Socks;

namespace TransparentSocks.TestSupport;

/// <summary>
/// The client side of one SOCKS5 UDP ASSOCIATE (RFC 1928 section 7), raw enough for refusal tests: the
/// datagrams are sent from whatever UDP socket the test passes (another source address, another port)
/// and may carry any header, including FRAG ≠ 0 or bytes that are no header at all. Disposing it closes
/// the TCP control connection, which ends the association at the server.
/// </summary>
public sealed class Socks5UdpAssociation : IDisposable
{
    private const int MaxDatagram = 65535;

    private Socks5UdpAssociation(Socket control, Destination bound, IPEndPoint relay)
    {
        Control = control;
        Bound = bound;
        Relay = relay;
    }

    /// <summary>The TCP connection the association lives on.</summary>
    public Socket Control { get; }

    /// <summary>BND.ADDR:BND.PORT exactly as the server answered.</summary>
    public Destination Bound { get; }

    /// <summary>
    /// Where datagrams go: <see cref="Bound"/>, except that an unspecified BND.ADDR (0.0.0.0 or ::) means the
    /// address the control connection reached, as the clients in the wild read it.
    /// </summary>
    public IPEndPoint Relay { get; }

    /// <summary>
    /// Greets, authenticates when <paramref name="user"/> is given, and asks for UDP ASSOCIATE with
    /// <paramref name="declared"/> as DST.ADDR:DST.PORT (the client's own UDP endpoint, or 0.0.0.0:0 for
    /// "not known yet"). Takes ownership of <paramref name="control"/>, an already connected TCP socket (make
    /// it with <c>lab.ConnectFromClientAsync</c> to associate from the client namespace). Throws if the server
    /// refuses; use <see cref="Socks5TestClient.HandshakeAsync"/> with <see cref="Socks5Command.UdpAssociate"/>
    /// to look at a refusal's reply code.
    /// </summary>
    public static async Task<Socks5UdpAssociation> OpenAsync(
        Socket control,
        Destination declared,
        string? user = null,
        string? password = null)
    {
        try
        {
            var reply = await Socks5TestClient.HandshakeAsync(control, declared, user, password, Socks5Command.UdpAssociate);
            if (reply.Code != Socks5ReplyCode.Succeeded)
            {
                throw new InvalidOperationException($"UDP ASSOCIATE refused with {reply.Code}");
            }

            if (reply.Bound.Address is not { } address)
            {
                throw new InvalidOperationException($"UDP ASSOCIATE answered a host name as BND: {reply.Bound}");
            }

            if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            {
                address = ((IPEndPoint)control.RemoteEndPoint!).Address;
            }

            return new Socks5UdpAssociation(control, reply.Bound, new IPEndPoint(address, reply.Bound.Port));
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }

    /// <summary>RSV RSV FRAG ATYP DST.ADDR DST.PORT followed by <paramref name="payload"/>.</summary>
    public static byte[] BuildDatagram(Destination destination, ReadOnlySpan<byte> payload, byte fragment = 0)
    {
        var header = new byte[Socks5Codec.MaxUdpHeaderLength];
        var length = Socks5Codec.WriteUdpHeader(header, destination, fragment);
        var datagram = new byte[length + payload.Length];
        header.AsSpan(0, length).CopyTo(datagram);
        payload.CopyTo(datagram.AsSpan(length));
        return datagram;
    }

    /// <summary>Sends <paramref name="payload"/> for <paramref name="destination"/> to the relay, from <paramref name="udp"/>.</summary>
    public Task SendAsync(Socket udp, Destination destination, ReadOnlyMemory<byte> payload, byte fragment = 0)
        => SendRawAsync(udp, BuildDatagram(destination, payload.Span, fragment));

    /// <summary>Sends <paramref name="datagram"/> to the relay as it is: the test wrote the header, or broke it.</summary>
    public async Task SendRawAsync(Socket udp, ReadOnlyMemory<byte> datagram)
        => await udp.SendToAsync(datagram, SocketFlags.None, Relay);

    /// <summary>
    /// The next datagram <paramref name="udp"/> receives, from anyone, with its header parsed; null if none
    /// arrives within <paramref name="timeout"/>. A datagram whose header does not parse throws, with its bytes.
    /// </summary>
    public static async Task<Socks5UdpReply?> ReceiveAsync(Socket udp, TimeSpan timeout)
    {
        var buffer = new byte[MaxDatagram];
        EndPoint any = new IPEndPoint(udp.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        using var cts = new CancellationTokenSource(timeout);
        SocketReceiveFromResult result;
        try
        {
            result = await udp.ReceiveFromAsync(buffer, SocketFlags.None, any, cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }

        var datagram = buffer.AsSpan(0, result.ReceivedBytes);
        var header = Socks5Codec.ParseUdpHeader(datagram);
        if (!header.IsDone)
        {
            throw new InvalidDataException(
                $"a datagram from {result.RemoteEndPoint} has no valid SOCKS5 UDP header ({header.Status} {header.Error}): "
                + Convert.ToHexString(datagram[..Math.Min(datagram.Length, 64)]));
        }

        return new Socks5UdpReply(
            (IPEndPoint)result.RemoteEndPoint,
            header.Value.Destination,
            header.Value.Fragment,
            datagram[header.Value.HeaderLength..].ToArray());
    }

    /// <summary>Sends one datagram and waits for the next one back; null on timeout.</summary>
    public async Task<Socks5UdpReply?> ExchangeAsync(Socket udp, Destination destination, ReadOnlyMemory<byte> payload, TimeSpan timeout)
    {
        await SendAsync(udp, destination, payload);
        return await ReceiveAsync(udp, timeout);
    }

    public void Dispose() => Control.Dispose();
}

/// <summary>A datagram from the relay: who sent it (the relay's socket) and what its header says.</summary>
/// <param name="Source">The header's address: the remote end the payload came from.</param>
public sealed record Socks5UdpReply(IPEndPoint From, Destination Source, byte Fragment, byte[] Payload);
