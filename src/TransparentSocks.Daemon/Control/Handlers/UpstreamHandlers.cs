using System.Globalization;
using static TransparentSocks.Daemon.Control.Handlers.Replies;

namespace TransparentSocks.Daemon.Control.Handlers;

/// <summary>
/// <c>transparentsocks upstream add/remove</c> and <c>group set/remove</c>: the named outbounds. Everything about
/// the result (addresses, members, cycles, references) is left to the config validator, so the API cannot accept what
/// the file would refuse; checked here is only what a change needs to be well aimed, on the copy being changed, so
/// a concurrent change cannot slip a new user in between the check and the removal.
/// </summary>
internal sealed class UpstreamHandlers(StateViews views, Changes changes)
{
    public async Task<ControlResponse> SetUpstreamAsync(string name, SetUpstreamRequest request, Peer peer)
    {
        CheckName(name, "upstream");
        var protocol = request.Protocol is null ? UpstreamProtocol.Socks5
            : OptionNames.ParseProtocol(request.Protocol)
              ?? throw new ApplyException(ErrorCodes.InvalidArgument, $"protocol: '{request.Protocol}' is not one of: {string.Join(", ", OptionNames.ProtocolNames)}", "protocol");

        await changes.ChangeAsync(peer, $"upstream add {name} {OptionNames.Of(protocol)} {request.Address}{(request.Username is null ? string.Empty : $" (user {request.Username})")}", o =>
        {
            var index = o.Upstreams.FindIndex(u => u.Name == name);
            var path = $"upstreams[{Index(index < 0 ? o.Upstreams.Count : index)}].name";
            if (o.Groups.FindIndex(g => g.Name == name) is var group and >= 0)
            {
                throw new ApplyException(ErrorCodes.InvalidArgument, $"{path}: '{name}' is already groups[{Index(group)}]; upstreams and groups share one namespace", path);
            }

            var upstream = index < 0 ? new UpstreamOptions { Name = name } : o.Upstreams[index];
            upstream.Protocol = protocol;
            upstream.Address = request.Address;
            upstream.Username = request.Username;
            upstream.Password = request.Password;
            upstream.PasswordFile = null;
            if (index < 0)
            {
                o.Upstreams.Add(upstream);
            }
        }).ConfigureAwait(false);
        return Ok(views.Upstreams().First(u => u.Name == name), Json.UpstreamInfo);
    }

    public Task<ControlResponse> RemoveUpstreamAsync(string name, Peer peer) => RemoveAsync(name, group: false, peer);

    public async Task<ControlResponse> SetGroupAsync(string name, SetGroupRequest request, Peer peer)
    {
        CheckName(name, "group");
        var policy = request.Policy is null ? GroupPolicyKind.Failover
            : OptionNames.ParsePolicy(request.Policy)
              ?? throw new ApplyException(ErrorCodes.InvalidArgument, $"policy: '{request.Policy}' is not one of: {string.Join(", ", OptionNames.PolicyNames)}", "policy");

        await changes.ChangeAsync(peer, $"group set {name} {OptionNames.Of(policy)} {string.Join(' ', request.Members)}", o =>
        {
            var index = o.Groups.FindIndex(g => g.Name == name);
            var path = $"groups[{Index(index < 0 ? o.Groups.Count : index)}].name";
            if (o.Upstreams.FindIndex(u => u.Name == name) is var upstream and >= 0)
            {
                throw new ApplyException(ErrorCodes.InvalidArgument, $"{path}: '{name}' is already upstreams[{Index(upstream)}]; upstreams and groups share one namespace", path);
            }

            var defaults = new HealthCheckOptions();
            var group = new GroupOptions
            {
                Name = name,
                Policy = policy,
                Members = [.. request.Members],
                HealthCheck = new HealthCheckOptions
                {
                    IntervalSeconds = request.Interval ?? defaults.IntervalSeconds,
                    TimeoutSeconds = request.Timeout ?? defaults.TimeoutSeconds,
                    Failures = request.Failures ?? defaults.Failures,
                    Successes = request.Successes ?? defaults.Successes,
                    Target = request.Target,
                },
            };

            // In place, so the groups keep the order the file lists them in.
            if (index < 0)
            {
                o.Groups.Add(group);
            }
            else
            {
                o.Groups[index] = group;
            }
        }).ConfigureAwait(false);
        return Ok(views.Upstreams().First(u => u.Name == name), Json.UpstreamInfo);
    }

    public Task<ControlResponse> RemoveGroupAsync(string name, Peer peer) => RemoveAsync(name, group: true, peer);

    /// <summary>
    /// Removes the upstream or the group <paramref name="name"/>. The two share one namespace, so a name asked for as
    /// the other kind is answered with the kind it is and the command that removes it.
    /// </summary>
    private async Task<ControlResponse> RemoveAsync(string name, bool group, Peer peer)
    {
        var (kind, otherKind) = group ? ("group", "upstream") : ("upstream", "group");
        await changes.ChangeAsync(peer, $"{kind} remove {name}", o =>
        {
            var upstreamIndex = o.Upstreams.FindIndex(u => u.Name == name);
            var groupIndex = o.Groups.FindIndex(g => g.Name == name);
            var (index, otherIndex) = group ? (groupIndex, upstreamIndex) : (upstreamIndex, groupIndex);
            if (index < 0)
            {
                throw NotFound(name, kind, otherIndex >= 0 ? otherKind : null);
            }

            RefuseWhileUsed(o, name, kind);
            if (group)
            {
                o.Groups.RemoveAt(index);
            }
            else
            {
                o.Upstreams.RemoveAt(index);
            }
        }).ConfigureAwait(false);
        return Ok(new MessageResponse($"{kind} {name} removed; sessions through it continue"), Json.MessageResponse);
    }

    /// <summary>
    /// The name in the path: 'default' and the other reserved names would otherwise reach the validator as an entry of
    /// the list, and be refused under an index the caller never wrote.
    /// </summary>
    private static void CheckName(string name, string kind)
    {
        if (!UpstreamNames.IsValid(name))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, $"name: '{name}' is not a valid {kind} name (1-{UpstreamNames.MaxLength.ToString(CultureInfo.InvariantCulture)} letters, digits, '.', '_' or '-', starting with a letter or digit)", "name");
        }

        if (UpstreamNames.IsReserved(name))
        {
            throw new ApplyException(ErrorCodes.InvalidArgument, $"name: '{name}' is reserved: no {kind} may be called direct, default or upstream, which already mean something (the default upstream is set with 'set endpoint')", "name");
        }
    }

    private static void RefuseWhileUsed(TransparentSocksOptions options, string name, string kind)
    {
        var users = UpstreamNames.UsersOf(options, name);
        if (users.Count > 0)
        {
            // The field is the first user's path, without the name UsersOf adds in parentheses for people.
            var field = users[0].Split(' ', 2)[0];
            throw new ApplyException(ErrorCodes.FailedPrecondition, $"{kind} '{name}' is in use by {string.Join(", ", users)}; point them elsewhere first", field);
        }
    }

    private static ApplyException NotFound(string name, string kind, string? otherKind)
        => new(ErrorCodes.NotFound, otherKind is null ? $"there is no {kind} '{name}'" : $"there is no {kind} '{name}'; '{name}' is a {otherKind} ('{otherKind} remove {name}')", "name");

    private static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);
}
