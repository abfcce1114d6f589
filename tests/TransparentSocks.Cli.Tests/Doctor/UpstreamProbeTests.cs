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

    [Fact]
    public async Task CheckAsync_NoAuthServerWithoutCredentials_IsOk()
    {
        var (where, served) = Serve([0x05, 0x00]);
        var result = await ProbeAsync(where, served);
        Assert.Equal(CheckStatus.Ok, result.Status);
        Assert.Contains("accepts us without authentication", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_ServerWantsAuthButNoneConfigured_FailsAndSaysHowToSetIt()
    {
        var (where, served) = Serve([0x05, 0xFF]);
        var result = await ProbeAsync(where, served);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("requires authentication and none is configured", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_CredentialsAccepted_IsOkAndNamesTheUserButNeverThePassword()
    {
        var (where, served) = Serve([0x05, 0x02], [0x01, 0x00]);
        var result = await ProbeAsync(where, served, "gw", "s3cret");
        Assert.Equal(CheckStatus.Ok, result.Status);
        Assert.Contains("accepts the credentials of user gw", result.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_CredentialsRefused_Fails()
    {
        var (where, served) = Serve([0x05, 0x02], [0x01, 0x01]);
        var result = await ProbeAsync(where, served, "gw", "wrong");
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("rejects the credentials of user gw", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_ServerSkipsAuthThoughCredentialsAreSet_IsOkAndSaysTheyAreUnused()
    {
        var (where, served) = Serve([0x05, 0x00]);
        var result = await ProbeAsync(where, served, "gw", "s3cret");
        Assert.Equal(CheckStatus.Ok, result.Status);
        Assert.Contains("needs no authentication", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_HttpServerInsteadOfSocks_FailsAsNotSocks5()
    {
        var (where, served) = Serve("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray());
        var result = await ProbeAsync(where, served);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("not SOCKS5", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_ServerClosesMidHandshake_FailsAndSaysSo()
    {
        var (where, served) = Serve([0x05]);
        var result = await ProbeAsync(where, served);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("closed the connection", result.Message, StringComparison.Ordinal);
    }
}
