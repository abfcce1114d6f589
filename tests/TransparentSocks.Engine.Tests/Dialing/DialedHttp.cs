using System.Text;
using TransparentSocks.Engine.Dialing;

namespace TransparentSocks.Engine.Tests.Dialing;

/// <summary>An HTTP GET over a connection a dialer returned, read to EOF: proof the connection reaches the target.</summary>
internal static class DialedHttp
{
    public static async Task<string> GetAsync(DialResult result, string path, TimeSpan timeout)
    {
        Assert.True(result.Succeeded, result.ToString());
        using var socket = result.Socket!;
        var sent = await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
        Assert.False(sent.HasError, sent.ToString());
        var buffer = new byte[64 * 1024];
        var total = 0;
        socket.SetTimeout(timeout);
        while (true)
        {
            var r = await socket.ReceiveAsync(buffer.AsMemory(total));
            Assert.False(r.HasError, r.ToString());
            if (r.Bytes == 0)
            {
                break;
            }

            total += r.Bytes;
        }

        return Encoding.ASCII.GetString(buffer, 0, total);
    }
}
