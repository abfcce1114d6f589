namespace TransparentSocks.Engine.Udp;

/// <summary>What an association tells the flow or server association it carries, under the runtime's gate.</summary>
public interface IUdpAssociationOwner
{
    /// <summary>
    /// A reply from <paramref name="source"/>: <paramref name="length"/> bytes at <paramref name="offset"/> of the
    /// runtime batch's slot <paramref name="slot"/>, with at least <see cref="UdpBatch.Headroom"/> bytes free before it.
    /// </summary>
    void OnReply(UdpAssociation association, UdpEndpoint source, int slot, int offset, int length);

    /// <summary>The association ended on its own (the upstream closed its control connection).</summary>
    void OnAssociationClosed(UdpAssociation association, string reason);
}

/// <summary>
/// The outbound leg of one UDP flow: where its datagrams go and where replies come from. Direct (one unconnected
/// socket) or through an upstream's SOCKS5 UDP ASSOCIATE (a control connection and a socket connected to the
/// upstream's relay). Every member but opening is called under <see cref="UdpRuntime.Gate"/>.
/// </summary>
public abstract class UdpAssociation : IUdpReceiver
{
    protected UdpAssociation(UdpRuntime runtime, UdpStats stats)
    {
        Runtime = runtime;
        Stats = stats;
    }

    protected UdpRuntime Runtime { get; }

    /// <summary>Where drops on the way back are counted: the ingress's counters.</summary>
    protected UdpStats Stats { get; }

    private IUdpAssociationOwner? _owner;
    private string? _endedBy;

    /// <summary>
    /// Who hears of replies and of the end. Set under the gate; an owner that arrives after the upstream already
    /// ended the association (it closed the control connection right after its reply) is told at once.
    /// </summary>
    public IUdpAssociationOwner? Owner
    {
        get => _owner;
        set
        {
            _owner = value;
            if (value is not null && _endedBy is { } reason)
            {
                value.OnAssociationClosed(this, reason);
            }
        }
    }

    public bool IsClosed { get; private set; }

    /// <summary>For the logs: "direct", or the upstream relay's address.</summary>
    public abstract string Describe { get; }

    /// <summary>Fds this association holds (the socket, and a control connection).</summary>
    public abstract int Fds { get; }

    /// <summary>
    /// Queues the payload at <paramref name="offset"/> of the batch's slot <paramref name="slot"/> for
    /// <paramref name="destination"/>, framing it in the headroom if the upstream needs a header. Returns the
    /// datagrams a flush implied by it could not send.
    /// </summary>
    public abstract int Enqueue(int slot, int offset, int length, UdpEndpoint destination);

    /// <summary>Queues a datagram already framed for a SOCKS5 relay (a client's own header, passed on as it is).</summary>
    public virtual int EnqueueFramed(int slot, int offset, int length) => 1;

    /// <summary>Whether <see cref="EnqueueFramed"/> works: the leg is a SOCKS5 relay, which can take names too.</summary>
    public virtual bool TakesFramed => false;

    /// <summary>Sends one datagram that is not in the batch (one that waited for the association to open).</summary>
    public abstract Errno SendNow(ReadOnlySpan<byte> payload, UdpEndpoint destination);

    /// <summary>Closes the sockets. The owner is not told: it is the one closing.</summary>
    public void Close()
    {
        if (IsClosed)
        {
            return;
        }

        IsClosed = true;
        CloseCore();
    }

    protected abstract void CloseCore();

    /// <summary>Read until EAGAIN, hand every good datagram to the owner, then flush what the owner queued.</summary>
    public void OnReadable(UdpSocket socket)
    {
        lock (Runtime.Gate)
        {
            if (IsClosed || Runtime.IsDisposed)
            {
                return;
            }

            try
            {
                Drain(socket);
            }
            catch (Exception ex)
            {
                Runtime.ReportCrash("upstream relay", ex);
            }
            finally
            {
                // Never leave pointers into the batch behind: the next read would send other datagrams' bytes.
                Stats.Drop(UdpDropReason.SendFailed, Runtime.Queue.Flush());
            }
        }
    }

    private void Drain(UdpSocket socket)
    {
        var batch = Runtime.Batch;
        while (!IsClosed)
        {
            var error = batch.Receive(socket);
            if (error == Errno.EAGAIN || error == Errno.EBADF)
            {
                break;
            }

            if (error != Errno.None)
            {
                // ECONNREFUSED and the like: an ICMP error for an earlier send, queued on the socket. Read on.
                continue;
            }

            for (var i = 0; i < batch.Count && !IsClosed; i++)
            {
                if (batch.IsTruncated(i))
                {
                    Stats.Drop(UdpDropReason.Truncated);
                    continue;
                }

                if (Unwrap(batch, i, out var source, out var offset, out var length) is { } drop)
                {
                    Stats.Drop(drop);
                    continue;
                }

                Owner?.OnReply(this, source, i, offset, length);
            }

            Stats.Drop(UdpDropReason.SendFailed, Runtime.Queue.Flush());
        }
    }

    /// <summary>Where the reply's payload lies in the slot and whom it is from; a drop reason when it is no good.</summary>
    protected abstract UdpDropReason? Unwrap(UdpBatch batch, int slot, out UdpEndpoint source, out int offset, out int length);

    /// <summary>The owner ends it from outside the association (closed by the upstream); called by subclasses.</summary>
    protected void EndedByPeer(string reason)
    {
        lock (Runtime.Gate)
        {
            if (IsClosed)
            {
                return;
            }

            Close();
            _endedBy = reason;
            _owner?.OnAssociationClosed(this, reason);
        }
    }
}

/// <summary>An association, or why there is none.</summary>
public readonly record struct UdpAssociateResult(UdpAssociation? Association, DialError Error, string? Detail)
{
    public bool Succeeded => Association is not null;

    public static UdpAssociateResult Opened(UdpAssociation association) => new(association, DialError.None, null);

    public static UdpAssociateResult Fail(DialError error, string detail) => new(null, error, detail);

    public override string ToString() => Succeeded ? $"associated via {Association!.Describe}" : $"{Error.ToReason()}: {Detail}";
}
