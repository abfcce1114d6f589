namespace TransparentSocks.Linux.EventLoop;

/// <summary>A fixed set of event loops, one per core by default, handed out round-robin.</summary>
public sealed class EventLoopGroup : IDisposable
{
    private readonly EventLoop[] _loops;
    private uint _next;

    public EventLoopGroup(int count = 0)
    {
        if (count <= 0)
        {
            count = Environment.ProcessorCount;
        }

        _loops = new EventLoop[count];
        for (var i = 0; i < count; i++)
        {
            _loops[i] = new EventLoop($"ts-loop-{i}");
        }
    }

    public IReadOnlyList<EventLoop> Loops => _loops;

    public EventLoop Next() => _loops[Interlocked.Increment(ref _next) % (uint)_loops.Length];

    public int RegisteredCount => _loops.Sum(l => l.RegisteredCount);

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            loop.Dispose();
        }
    }
}
