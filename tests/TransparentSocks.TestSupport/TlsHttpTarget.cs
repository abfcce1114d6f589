using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace TransparentSocks.TestSupport;

/// <summary>One request as <see cref="TlsHttpTarget"/> received it: who sent it, the SNI of its ClientHello, its head.</summary>
public sealed record TlsHttpTargetRequest(IPEndPoint Client, string ServerName, string Head);

/// <summary>
/// HTTPS in miniature: a TLS handshake with a self-signed certificate (clients use <c>curl -k</c>), one request head
/// read, <c>200 OK</c> with <see cref="Body"/> and <c>Connection: close</c>, then a TLS close_notify and a graceful
/// close. It records the server name each client asked for, so a test can tell that a ClientHello crossed whole.
/// </summary>
public sealed class TlsHttpTarget : TcpTarget
{
    private const int MaxHeadBytes = 64 * 1024;
    private static readonly byte[] HeadTerminator = "\r\n\r\n"u8.ToArray();
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(5);

    private readonly X509Certificate2 _certificate;
    private readonly byte[] _response;
    private readonly ConcurrentQueue<TlsHttpTargetRequest> _requests = new();

    /// <summary>Pass a certificate from <see cref="CreateCertificate"/>, made before switching namespaces.</summary>
    public TlsHttpTarget(IPAddress address, X509Certificate2 certificate, string body, int port = 0)
        : base(address, port)
    {
        _certificate = certificate;
        Body = body;
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = "HTTP/1.1 200 OK\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + $"Content-Length: {bodyBytes.Length}\r\n"
            + "Connection: close\r\n\r\n";
        _response = [.. Encoding.ASCII.GetBytes(head), .. bodyBytes];
        StartAccepting();
    }

    public string Body { get; }

    public IReadOnlyList<TlsHttpTargetRequest> Requests => [.. _requests];

    /// <summary>A self-signed server certificate for <paramref name="name"/> (ECDSA P-256, valid for a day).</summary>
    public static X509Certificate2 CreateCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    protected override async Task HandleAsync(Socket client, CancellationToken cancellationToken)
    {
        await using var tls = new SslStream(new NetworkStream(client, ownsSocket: false));
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, cancellationToken);
        var head = await ReadHeadAsync(tls, cancellationToken);
        if (head is null)
        {
            return;
        }

        _requests.Enqueue(new TlsHttpTargetRequest((IPEndPoint)client.RemoteEndPoint!, tls.TargetHostName, head));
        await tls.WriteAsync(_response, cancellationToken);
        await tls.ShutdownAsync();
        client.Shutdown(SocketShutdown.Send);

        // As HttpTarget: wait for the client's FIN rather than close with unread input (an RST).
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        linger.CancelAfter(LingerTimeout);
        try
        {
            await DrainAsync(client, linger.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The client kept its side open; the response is acknowledged or queued.
        }
    }

    private static async Task<string?> ReadHeadAsync(SslStream tls, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHeadBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await tls.ReadAsync(buffer.AsMemory(filled), cancellationToken);
            if (read == 0)
            {
                return null;
            }

            filled += read;
            var end = buffer.AsSpan(0, filled).IndexOf(HeadTerminator);
            if (end >= 0)
            {
                return Encoding.ASCII.GetString(buffer, 0, end);
            }
        }

        throw new InvalidDataException($"Request head exceeds {MaxHeadBytes} bytes.");
    }
}
