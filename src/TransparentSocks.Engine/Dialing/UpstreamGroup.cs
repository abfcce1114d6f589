using TransparentSocks.Engine.Udp;
using Loop = TransparentSocks.Linux.EventLoop.EventLoop;

namespace TransparentSocks.Engine.Dialing;

public enum GroupPolicy
{
    /// <summary>The first healthy member, in the order given.</summary>
    Failover,

    /// <summary>Healthy members in turn.</summary>
    RoundRobin,

    /// <summary>The healthy member with the fewest dials in progress and sessions open through it.</summary>
    LeastConnections,

    /// <summary>By client address, so one client stays on one upstream while it is healthy.</summary>
    Hash,
}

/// <summary>Why a member is down: the labels of <c>show upstreams</c> and the metrics.</summary>
public enum HealthReason
{
    None,

    /// <summary>The TCP connect was refused (RST), or the upstream could not be reached at all.</summary>
    Refused,

    /// <summary>The TCP connect did not finish in time.</summary>
    Timeout,

    /// <summary>The upstream refused the credentials (SOCKS5 auth, HTTP 407 or 401).</summary>
    Auth,

    /// <summary>It accepted TCP but broke or never finished the handshake.</summary>
    Handshake,

    /// <summary>The check's CONNECT to its target failed through it.</summary>
    Target,
}

/// <param name="Interval">Time between active checks of each member.</param>
/// <param name="Timeout">For one check: connect, handshake and the target's CONNECT together.</param>
/// <param name="Failures">Consecutive failures (checks or real dials) that mark a member down.</param>
/// <param name="Successes">Consecutive successful checks that bring it back.</param>
/// <param name="Target">Also CONNECT to this through the member and see it open.</param>
public sealed record HealthCheckSettings(TimeSpan Interval, TimeSpan Timeout, int Failures, int Successes, Destination? Target)
{
    public static HealthCheckSettings Default { get; } = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3), 2, 2, null);
}

/// <summary>A dialer a group can check on its own: connect, handshake and, with a target, a CONNECT through it.</summary>
public interface IProbeableDialer : IDialer
{
    ValueTask<(HealthReason Reason, string? Detail)> ProbeAsync(Loop loop, Destination? target, CancellationToken cancellationToken);
}

/// <summary>One member of a group: its dialer, its health, and what is in flight through it.</summary>
public sealed class UpstreamMember
{
    private readonly Lock _lock = new();
    private int _consecutiveFailures;
    private int _consecutiveSuccesses;
    private long _inFlight;
    private long _checks;
    private long _checkFailures;
    private readonly long[] _failuresByReason = new long[Enum.GetValues<HealthReason>().Length];

    internal UpstreamMember(string name, IDialer dialer)
    {
        Name = name;
        Dialer = dialer;
        Seed = UpstreamGroup.StableHash(name);
    }

    /// <summary>The member's part of the hash policy's score: by name, so a reload or restart keeps every client where it was.</summary>
    internal uint Seed { get; }

    public string Name { get; }

    public IDialer Dialer { get; }

    /// <summary>Members start up: a new group serves at once, and the first checks or dials correct it.</summary>
    public bool IsUp { get; private set; } = true;

    public HealthReason Reason { get; private set; }

    public string? Detail { get; private set; }

    public TimeSpan? LastCheckLatency { get; private set; }

    public DateTimeOffset? LastChange { get; private set; }

    public long InFlight => Volatile.Read(ref _inFlight);

    public long Checks => Volatile.Read(ref _checks);

    public long CheckFailures => Volatile.Read(ref _checkFailures);

    /// <summary>Failures with <paramref name="reason"/>, checks and real dials together.</summary>
    public long FailuresBy(HealthReason reason) => Volatile.Read(ref _failuresByReason[(int)reason]);

    internal void Enter() => Interlocked.Increment(ref _inFlight);

    internal void Leave() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Records a check or a real dial's outcome; returns the new state when it changed.</summary>
    internal bool? Record(HealthReason reason, string? detail, HealthCheckSettings settings, TimeSpan? latency, bool isCheck)
    {
        lock (_lock)
        {
            if (isCheck)
            {
                _checks++;
                LastCheckLatency = latency;
                if (reason != HealthReason.None)
                {
                    _checkFailures++;
                }
            }

            if (reason == HealthReason.None)
            {
                _consecutiveFailures = 0;

                // A real session succeeding says the member works, but only checks bring a down member back, so a
                // flapping upstream needs its `successes` in a row from the checker.
                if (!isCheck)
                {
                    return null;
                }

                _consecutiveSuccesses++;
                if (!IsUp && _consecutiveSuccesses >= settings.Successes)
                {
                    return Change(up: true, HealthReason.None, null);
                }

                return null;
            }

            _consecutiveSuccesses = 0;
            _consecutiveFailures++;
            _failuresByReason[(int)reason]++;
            Reason = reason;
            Detail = detail;
            if (IsUp && _consecutiveFailures >= settings.Failures)
            {
                return Change(up: false, reason, detail);
            }

            return null;
        }
    }

    private bool Change(bool up, HealthReason reason, string? detail)
    {
        IsUp = up;
        Reason = reason;
        Detail = detail;
        LastChange = DateTimeOffset.UtcNow;
        _consecutiveFailures = 0;
        _consecutiveSuccesses = 0;
        return up;
    }
}

/// <summary>
/// Several upstreams behind one name: a policy picks the member for each dial, real failures and active checks mark
/// members down and up, and a dial that fails before anything was relayed is retried on the next healthy member
/// within the connect budget. The client sees a failure only when every member failed, with the last one's reply.
/// Inbounds and the pipeline see one <see cref="IDialer"/>, as for a single upstream.
/// </summary>
public sealed class UpstreamGroup : IDialer, IAsyncDisposable
{
    private readonly UpstreamMember[] _members;
    private readonly GroupPolicy _policy;
    private readonly HealthCheckSettings _health;
    private readonly TimeSpan _budget;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _checker = Task.CompletedTask;
    private int _next;

    /// <param name="budget">The whole dial, every retry included, ends within this (the connect timeout).</param>
    public UpstreamGroup(string name, GroupPolicy policy, IReadOnlyList<(string Name, IDialer Dialer)> members, HealthCheckSettings health, TimeSpan budget, ILogger logger)
    {
        if (members.Count == 0)
        {
            throw new ArgumentException("a group needs at least one member", nameof(members));
        }

        GroupName = name;
        Name = $"group:{name}";
        _policy = policy;
        _members = [.. members.Select(m => new UpstreamMember(m.Name, m.Dialer))];
        _health = health;
        _budget = budget;
        _logger = logger;
    }

    public string GroupName { get; }

    public string Name { get; }

    public GroupPolicy Policy => _policy;

    public HealthCheckSettings Health => _health;

    /// <summary>Members are upstream proxies: names go to them unresolved.</summary>
    public bool ResolvesLocally => false;

    public bool CarriesUdp => _members.Any(m => m.Dialer.CarriesUdp);

    public DialerStats Stats { get; } = new();

    public IReadOnlyList<UpstreamMember> Members => _members;

    /// <summary>Starts the active checks on <paramref name="loop"/>; without this only real dials move members.</summary>
    public void StartChecks(Loop loop)
    {
        if (_members.Any(m => m.Dialer is IProbeableDialer))
        {
            _checker = Task.Run(() => CheckLoopAsync(loop, _stopping.Token));
        }
    }

    public async ValueTask<DialResult> DialAsync(DialRequest request, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        var result = await TryEachAsync(
            request.ClientAddress, udp: false, cancellationToken,
            (member, ct) => member.Dialer.DialAsync(request, ct),
            static r => (r.Succeeded, r.Error, r.UpstreamReply, r.Detail),
            static r => r.Socket?.Dispose(),
            static (member, r) =>
            {
                // The session holds the member until its upstream socket closes: what least-connections counts.
                member.Enter();
                r.Socket!.Closed = member.Leave;
            }).ConfigureAwait(false);
        Stats.DialCompleted(result);
        return result;
    }

    public async ValueTask<UdpAssociateResult> AssociateAsync(UdpRuntime runtime, UdpStats stats, CancellationToken cancellationToken = default)
    {
        Stats.DialStarted();
        if (!CarriesUdp)
        {
            var refused = UdpAssociateResult.Fail(DialError.UpstreamRejected, $"{Name}: no member carries UDP (HTTP CONNECT proxies only)");
            Stats.AssociationCompleted(refused);
            return refused;
        }

        var result = await TryEachAsync(
            null, udp: true, cancellationToken,
            (member, ct) => member.Dialer.AssociateAsync(runtime, stats, ct),
            static r => (r.Succeeded, r.Error, Socks.Socks5ReplyCode.GeneralFailure, r.Detail),
            static r => r.Association?.Close(),
            static (_, _) => { }).ConfigureAwait(false);
        Stats.AssociationCompleted(result);
        return result;
    }

    /// <summary>The members to try, in order: the policy's pick among the healthy ones, then the rest of them.</summary>
    internal UpstreamMember[] Order(IPAddress? client)
    {
        var healthy = _members.Where(m => m.IsUp).ToArray();
        if (healthy.Length == 0)
        {
            // All down: try them anyway, in order; one may have recovered since its last check.
            return _members;
        }

        int first;
        switch (_policy)
        {
            case GroupPolicy.RoundRobin:
                first = (int)((uint)Interlocked.Increment(ref _next) % (uint)healthy.Length);
                break;
            case GroupPolicy.LeastConnections:
                first = 0;
                for (var i = 1; i < healthy.Length; i++)
                {
                    if (healthy[i].InFlight < healthy[first].InFlight)
                    {
                        first = i;
                    }
                }

                break;
            case GroupPolicy.Hash:
                first = client is null ? 0 : HighestRandomWeight(healthy, StableHash(client));
                break;
            default:
                first = 0;
                break;
        }

        return [.. healthy[first..], .. healthy[..first]];
    }

    private async ValueTask<T> TryEachAsync<T>(
        IPAddress? client, bool udp, CancellationToken cancellationToken, Func<UpstreamMember, CancellationToken, ValueTask<T>> attempt,
        Func<T, (bool Ok, DialError Error, Socks.Socks5ReplyCode Reply, string? Detail)> read, Action<T> discard, Action<UpstreamMember, T> keep)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_budget);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var candidates = Order(client);
        var left = udp ? candidates.Count(m => m.Dialer.CarriesUdp) : candidates.Length;
        // Every attempt sets it (a member's failure, or our timeout for it), so a default T, which would read as a
        // success with no error and reply 0x00, is never returned.
        T last = default!;
        var tried = 0;
        foreach (var member in candidates)
        {
            // An HTTP member is skipped for UDP, not tried and counted as failing: it is healthy, only not for this.
            if (udp && !member.Dialer.CarriesUdp)
            {
                continue;
            }

            var remaining = _budget - System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero && tried > 0)
            {
                break;
            }

            // A member that accepts and then hangs (a stopped process, a blackholed path) must not take the whole
            // budget while another member could still answer: each attempt but the last gets at most half of
            // what is left, so there is always time for one retry.
            left--;
            using var attemptBudget = CancellationTokenSource.CreateLinkedTokenSource(budget.Token);
            if (left > 0)
            {
                attemptBudget.CancelAfter(remaining / 2);
            }

            tried++;
            member.Enter();
            T result;
            try
            {
                result = await attempt(member, attemptBudget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Out of time for this member: that counts against it, and the next one (if any time is left) is tried.
                member.Leave();
                Observe(member, HealthReason.Timeout, $"no answer within {(left > 0 ? remaining / 2 : remaining).TotalSeconds:0.###} s of the connect budget", isCheck: false, latency: null);
                last = Exhausted<T>();
                continue;
            }

            member.Leave();
            var (ok, error, _, detail) = read(result);
            if (ok)
            {
                Observe(member, HealthReason.None, null, isCheck: false, latency: null);
                keep(member, result);
                return result;
            }

            discard(result);
            last = result;
            if (ReasonOf(error) is { } reason)
            {
                Observe(member, reason, detail, isCheck: false, latency: null);
            }

            if (!Retryable(error))
            {
                return result;
            }
        }

        return tried == 0 ? Exhausted<T>() : last;
    }

    private T Exhausted<T>()
    {
        object failure = typeof(T) == typeof(UdpAssociateResult)
            ? UdpAssociateResult.Fail(DialError.TimedOut, $"{Name}: no member answered within {_budget.TotalSeconds:0.###} s")
            : DialResult.Fail(DialError.TimedOut, $"{Name}: no member answered within {_budget.TotalSeconds:0.###} s");
        return (T)failure;
    }

    /// <summary>
    /// A failure another member might not have: the upstream itself failing, or its refusal of this destination
    /// (0x01, 0x04, 0x05 from one upstream may be a success through another). Exhaustion is ours, not the member's.
    /// </summary>
    private static bool Retryable(DialError error) => error is not (DialError.ResourceExhausted or DialError.Denied or DialError.None);

    /// <summary>Which real-dial failures say the member is unwell (passive checks): not a destination's refusal.</summary>
    private static HealthReason? ReasonOf(DialError error) => error switch
    {
        DialError.UpstreamUnavailable => HealthReason.Refused,
        DialError.UpstreamAuthFailed => HealthReason.Auth,
        DialError.UpstreamProtocolError => HealthReason.Handshake,
        DialError.TimedOut => HealthReason.Timeout,
        _ => null,
    };

    private void Observe(UpstreamMember member, HealthReason reason, string? detail, bool isCheck, TimeSpan? latency)
    {
        if (member.Record(reason, detail, _health, latency, isCheck) is { } up)
        {
            if (up)
            {
                Logging.Log.UpstreamUp(_logger, GroupName, member.Name);
            }
            else
            {
                Logging.Log.UpstreamDown(_logger, GroupName, member.Name, reason.ToReason(), detail ?? "");
                if (member.Dialer is Socks5Dialer { Pool: { } pool })
                {
                    pool.Drain();
                }
            }
        }
    }

    private async Task CheckLoopAsync(Loop loop, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await Task.WhenAll(_members.Select(m => CheckAsync(m, loop, stopping))).ConfigureAwait(false);
            try
            {
                await Task.Delay(_health.Interval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One active check of one member; never throws.</summary>
    internal async Task CheckAsync(UpstreamMember member, Loop loop, CancellationToken stopping)
    {
        if (member.Dialer is not IProbeableDialer probe)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_health.Timeout);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        (HealthReason Reason, string? Detail) outcome;
        try
        {
            outcome = await probe.ProbeAsync(loop, _health.Target, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            outcome = (HealthReason.Handshake, $"no answer within {_health.Timeout.TotalSeconds:0.###} s");
        }
        catch (OperationCanceledException)
        {
            return;
        }

        Observe(member, outcome.Reason, outcome.Detail, isCheck: true, latency: System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// Rendezvous hashing: each client goes to the healthy member with the highest score for (client, member).
    /// Unlike a hash modulo the healthy count, a member going down moves only its own clients, and coming back
    /// takes back only those: the others stay on their upstream (and its sessions, NAT mappings and caches).
    /// </summary>
    private static int HighestRandomWeight(UpstreamMember[] healthy, uint client)
    {
        var best = 0;
        var bestScore = 0UL;
        for (var i = 0; i < healthy.Length; i++)
        {
            var score = Mix(((ulong)client << 32) | healthy[i].Seed);
            if (i == 0 || score > bestScore)
            {
                (best, bestScore) = (i, score);
            }
        }

        return best;
    }

    // The splitmix64 finaliser: FNV alone mixes the high bits poorly, and the scores must look independent per member.
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9UL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebUL;
        return x ^ (x >> 31);
    }

    internal static uint StableHash(ReadOnlySpan<char> name)
    {
        var hash = 2166136261u;
        foreach (var c in name)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private static uint StableHash(IPAddress address)
    {
        // FNV-1a over the address bytes: stable across restarts, unlike string or object hashes.
        Span<byte> bytes = stackalloc byte[16];
        var mapped = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        _ = mapped.TryWriteBytes(bytes, out var written);
        var hash = 2166136261u;
        foreach (var b in bytes[..written])
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        await _checker.ConfigureAwait(false);
        _stopping.Dispose();
    }
}
