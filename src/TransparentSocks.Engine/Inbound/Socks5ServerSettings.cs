using System.Net;
using TransparentSocks.Addressing;
using TransparentSocks.Linux.Relay;
using TransparentSocks.Options;

namespace TransparentSocks.Engine.Inbound;

public sealed record Socks5ServerSettings
{
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 1080);

    /// <summary>Empty means no authentication.</summary>
    public UserTable Users { get; init; } = new([]);

    /// <summary>Null means every client may connect.</summary>
    public NetworkSet? AllowedClients { get; init; }

    /// <summary>Denied destinations; the listener's own endpoint is always added.</summary>
    public NetworkSet DeniedDestinations { get; init; } = NetworkSet.DefaultDeniedDestinations;

    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxHandshakes { get; init; } = 512;

    public int MaxConnections { get; init; } = 10000;

    public RelaySettings Relay { get; init; } = new();

    public static Socks5ServerSettings FromOptions(TransparentSocksOptions options)
    {
        var server = options.Server;
        return new Socks5ServerSettings
        {
            Listen = server.ListenEndPoint,
            Users = new UserTable(server.Users.Select(u => new KeyValuePair<string, string>(u.Username!, u.EffectivePassword!))),
            AllowedClients = server.AllowedClientSet,
            DeniedDestinations = server.DeniedDestinationSet,
            HandshakeTimeout = server.HandshakeTimeout,
            MaxHandshakes = server.MaxHandshakes,
            MaxConnections = server.MaxConnections,
            Relay = new RelaySettings
            {
                Engine = options.Relay.Mode == RelayMode.Copy ? RelayEngine.Copy : RelayEngine.Splice,
                PipeSize = options.Relay.PipeSize,
                BufferSize = options.Relay.BufferSize,
                IdleTimeout = server.IdleTimeout,
            },
        };
    }
}
