using System.Net;
using System.Net.Sockets;
using TransparentSocks.Addressing;
using TransparentSocks.Cli.Doctor;

namespace TransparentSocks.Cli.Tests.Doctor;

/// <summary>
/// The doctor's upstream check against scripted servers on loopback: each answer an upstream can give maps to the
/// one verdict that tells the operator what to fix.
/// </summary>
[Trait("Category", "Unit")]
public sealed class UpstreamProbeTests
{
    /// <summary>A one-connection server that reads the greeting (and credentials, when it asks for them) and answers with <paramref name="answers"/>.</summary>
    private static (Destination Where, Task Served) Serve(params byte[][] answers)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var where = Destination.FromEndPoint((IPEndPoint)listener.LocalEndPoint!);
        var served = Task.Run(async () =>
        {
            using (listener)
            {
                using var peer = await listener.AcceptAsync();
                var buffer = new byte[600];
                foreach (var answer in answers)
                {
                    await peer.ReceiveAsync(buffer);
                    await peer.SendAsync(answer);
                }

                peer.Shutdown(SocketShutdown.Send);
                try
                {
                    while (await peer.ReceiveAsync(buffer) > 0)
                    {
                    }
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
                {
                    // The probe read only what it asked for and closed with our surplus unread.
                }
            }
        });
        return (where, served);
    }

    private static async Task<CheckResult> ProbeAsync(Destination where, Task served, string? user = null, string? password = null)
    {
        var result = await UpstreamProbe.CheckAsync("upstream", where, user, password, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await served.WaitAsync(TimeSpan.FromSeconds(10));
        return result;
    }

    /// <summary>What a scripted upstream answers, with or without credentials set, and the verdict the operator reads.</summary>
    public static TheoryData<string, byte[][], string?, bool, string> Answers() => new()
    {
        { "no auth, none configured", [[0x05, 0x00]], null, true, "accepts us without authentication" },
        { "auth wanted, none configured", [[0x05, 0xFF]], null, false, "requires authentication and none is configured" },
        { "credentials accepted", [[0x05, 0x02], [0x01, 0x00]], "gw", true, "accepts the credentials of user gw" },
        { "credentials refused", [[0x05, 0x02], [0x01, 0x01]], "gw", false, "rejects the credentials of user gw" },
        { "auth skipped though set", [[0x05, 0x00]], "gw", true, "needs no authentication" },
        { "an HTTP server", ["HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray()], null, false, "not SOCKS5" },
        { "closed mid-handshake", [[0x05]], null, false, "closed the connection" },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task CheckAsync_EachUpstreamAnswer_GivesItsVerdict_AndNeverPrintsThePassword(
        string upstream, byte[][] answers, string? user, bool ok, string says)
    {
        var (where, served) = Serve(answers);
        var result = await ProbeAsync(where, served, user, user is null ? null : "s3cret");
        Assert.True((ok ? CheckStatus.Ok : CheckStatus.Fail) == result.Status, $"{upstream}: {result}");
        Assert.Contains(says, result.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Message, StringComparison.Ordinal);
    }
}
