using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using TransparentSocks.Socks;
using TransparentSocks.TestSupport;

namespace TransparentSocks.Engine.Tests.Dialing;

public enum FakeUpstreamBehavior
{
    /// <summary>Greeting, optional username/password, CONNECT answered with <see cref="FakeSocks5Upstream.ConnectReply"/>, then echo.</summary>
    Serve,

    /// <summary>Accepts and closes at once, like a server that is up but refusing work.</summary>
    CloseOnAccept,

    /// <summary>Accepts and never answers (the kernel completed the TCP handshake; the server is stuck).</summary>
    Silent,
}

/// <summary>
/// A SOCKS5 upstream for the pool tests. Real servers cannot say which handshake steps a dial used, so this one
/// records, per connection, when the greeting, the authentication and the CONNECT arrived, as numbers from one
/// counter shared by all connections (so tests can order events across connections). It can also drop
/// connections the way a real upstream times out idle ones.
/// </summary>
public sealed class FakeSocks5Upstream : TcpTarget
{
    private readonly byte[]? _username;
    private readonly byte[]? _password;
    private readonly ConcurrentQueue<FakeUpstreamConnection> _connections = new();
    private long _clock;
    private int _accepted;
    private int _dropRequests;
    private int _dropWithReset;
    private int _behavior;
    private int _reply;

    public FakeSocks5Upstream(FakeUpstreamBehavior behavior = FakeUpstreamBehavior.Serve, string? username = null, string? password = null)
        : base(IPAddress.Loopback, 0)
    {
        _behavior = (int)behavior;
        _username = username is null ? null : System.Text.Encoding.UTF8.GetBytes(username);
        _password = password is null ? null : System.Text.Encoding.UTF8.GetBytes(password);
        StartAccepting();
    }

    public FakeUpstreamBehavior Behavior
    {
        get => (FakeUpstreamBehavior)Volatile.Read(ref _behavior);
        set => Volatile.Write(ref _behavior, (int)value);
    }

    public Socks5ReplyCode ConnectReply
    {
        get => (Socks5ReplyCode)Volatile.Read(ref _reply);
        set => Volatile.Write(ref _reply, (int)value);
    }

    /// <summary>Connections accepted so far, whatever became of them.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Connections that got as far as a greeting, in accept order.</summary>
    public IReadOnlyList<FakeUpstreamConnection> Connections => [.. _connections];

    /// <summary>The number of the latest event: taken before an action, events up to it happened before, later ones after.</summary>
    public long Now => Interlocked.Read(ref _clock);

    /// <summary>The next <paramref name="count"/> CONNECT requests get no reply: the connection closes (FIN, or RST with <paramref name="reset"/>).</summary>
    public void DropNextRequests(int count, bool reset)
    {
        Volatile.Write(ref _dropWithReset, reset ? 1 : 0);
        Volatile.Write(ref _dropRequests, count);
    }

    /// <summary>Closes every connection that finished authentication and is still waiting for a request; returns how many.</summary>
    public int CloseIdle()
    {
        var closed = 0;
        foreach (var connection in _connections)
        {
            if (connection.AuthenticatedAt != 0 && connection.Requests == 0 && !connection.Closed)
            {
                connection.Kill.Cancel();
                closed++;
            }
        }

        return closed;
    }

    /// <summary>Polls until <paramref name="condition"/> holds. False on timeout.</summary>
    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }

        return true;
    }

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _accepted);
        switch (Behavior)
        {
            case FakeUpstreamBehavior.CloseOnAccept:
                return;
            case FakeUpstreamBehavior.Silent:
                await DrainAsync(client, cancellationToken);
                return;
        }

        var connection = new FakeUpstreamConnection();
        _connections.Enqueue(connection);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.Kill.Token);
        try
        {
            await ServeAsync(client, connection, linked.Token);
        }
        catch (OperationCanceledException) when (connection.Kill.IsCancellationRequested)
        {
            // Dropped like an upstream's idle timeout: a plain close.
        }
        finally
        {
            // Closed here rather than by the base class afterwards, so Closed never runs ahead of the FIN.
            client.Dispose();
            connection.Closed = true;
        }
    }

    private long Tick() => Interlocked.Increment(ref _clock);

    private async Task ServeAsync(Socket client, FakeUpstreamConnection connection, CancellationToken cancellationToken)
    {
        var reader = new Reader(client);
        var reply = new byte[Socks5Codec.MaxUdpHeaderLength];
        var greeting = await reader.ReadAsync(Socks5Codec.ParseGreeting, cancellationToken);
        if (greeting is null)
        {
            return;
        }

        connection.Greetings++;
        connection.GreetedAt = Tick();
        if (_username is not null)
        {
            if (!greeting.Value.Value.Methods.Contains(Socks5AuthMethod.UsernamePassword))
            {
                await SendAllAsync(client, reply.AsMemory(0, Socks5Codec.WriteMethodSelection(reply, Socks5AuthMethod.NoAcceptable)), cancellationToken);
                return;
            }

            await SendAllAsync(client, reply.AsMemory(0, Socks5Codec.WriteMethodSelection(reply, Socks5AuthMethod.UsernamePassword)), cancellationToken);
            var credentials = await reader.ReadAsync(Socks5Codec.ParseUsernamePassword, cancellationToken);
            if (credentials is null)
            {
                return;
            }

            var (value, bytes) = credentials.Value;
            var ok = value.GetUsername(bytes).SequenceEqual(_username) && value.GetPassword(bytes).SequenceEqual(_password);
            connection.Authentications++;

            // Recorded before the reply, so a client that has seen the reply always finds the event recorded.
            if (ok)
            {
                connection.AuthenticatedAt = Tick();
            }

            await SendAllAsync(client, reply.AsMemory(0, Socks5Codec.WriteAuthReply(reply, ok)), cancellationToken);
            if (!ok)
            {
                return;
            }
        }
        else
        {
            connection.AuthenticatedAt = Tick();
            await SendAllAsync(client, reply.AsMemory(0, Socks5Codec.WriteMethodSelection(reply, Socks5AuthMethod.NoAuthentication)), cancellationToken);
        }

        var request = await reader.ReadAsync(Socks5Codec.ParseRequest, cancellationToken);
        if (request is null)
        {
            return;
        }

        connection.Requests++;
        connection.RequestedAt = Tick();
        connection.Destination = request.Value.Value.Destination.ToString();
        if (TryTakeDrop(out var reset))
        {
            if (reset)
            {
                client.LingerState = new LingerOption(true, 0);
            }

            return;
        }

        var code = ConnectReply;
        await SendAllAsync(client, reply.AsMemory(0, Socks5Codec.WriteReply(reply, code, default)), cancellationToken);
        if (code != Socks5ReplyCode.Succeeded)
        {
            return;
        }

        // Echo, starting with anything that arrived behind the request.
        if (reader.Pending.Length > 0)
        {
            await SendAllAsync(client, reader.Pending, cancellationToken);
        }

        var buffer = new byte[16 * 1024];
        while (true)
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                return;
            }

            await SendAllAsync(client, buffer.AsMemory(0, n), cancellationToken);
        }
    }

    private bool TryTakeDrop(out bool reset)
    {
        reset = Volatile.Read(ref _dropWithReset) != 0;
        while (true)
        {
            var left = Volatile.Read(ref _dropRequests);
            if (left <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _dropRequests, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    private delegate ParseResult<T> Parser<T>(ReadOnlySpan<byte> input);

    /// <summary>Reads one message at a time with the codec; what arrives behind it stays for the next read.</summary>
    private sealed class Reader(Socket socket)
    {
        private readonly byte[] _buffer = new byte[4096];
        private int _filled;

        public ReadOnlyMemory<byte> Pending => _buffer.AsMemory(0, _filled);

        /// <summary>The parsed message and a copy of its bytes (credentials point into them), or null at EOF.</summary>
        public async Task<(T Value, byte[] Bytes)?> ReadAsync<T>(Parser<T> parse, CancellationToken cancellationToken)
        {
            while (true)
            {
                var result = parse(_buffer.AsSpan(0, _filled));
                if (result.IsDone)
                {
                    var bytes = _buffer.AsSpan(0, result.Consumed).ToArray();
                    _buffer.AsSpan(result.Consumed, _filled - result.Consumed).CopyTo(_buffer);
                    _filled -= result.Consumed;
                    return (result.Value, bytes);
                }

                if (result.IsInvalid)
                {
                    throw new InvalidDataException($"bad SOCKS5 message: {result}");
                }

                var n = await socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, cancellationToken);
                if (n == 0)
                {
                    return null;
                }

                _filled += n;
            }
        }
    }
}

/// <summary>What one connection to <see cref="FakeSocks5Upstream"/> sent; the *At values are event numbers, 0 = not yet.</summary>
public sealed class FakeUpstreamConnection
{
    internal CancellationTokenSource Kill { get; } = new();

    public int Greetings { get; internal set; }

    public int Authentications { get; internal set; }

    public int Requests { get; internal set; }

    public long GreetedAt { get; internal set; }

    /// <summary>When the connection became ready for a request (after authentication, or the greeting without it).</summary>
    public long AuthenticatedAt { get; internal set; }

    public long RequestedAt { get; internal set; }

    public string? Destination { get; internal set; }

    public bool Closed { get; internal set; }
}
