using TransparentSocks.Engine.Udp;

namespace TransparentSocks.Engine.Tests.Udp;

[Trait("Category", "Unit")]
public sealed class LruMapTests
{
    [Fact]
    public void Add_UnderCapacity_EvictsNothingAndFindsEveryKey()
    {
        var map = new LruMap<int, string>(3);
        Assert.False(map.Add(1, "a", stamp: 10, out _));
        Assert.False(map.Add(2, "b", stamp: 11, out _));
        Assert.Equal(2, map.Count);
        Assert.True(map.TryGet(1, out var value));
        Assert.Equal("a", value);
        Assert.False(map.TryGet(3, out _));
    }

    [Fact]
    public void Add_AtCapacity_EvictsTheLeastRecentlyUsedAndHandsItBack()
    {
        var map = new LruMap<int, string>(2);
        map.Add(1, "a", 10, out _);
        map.Add(2, "b", 11, out _);

        // Touching 1 makes 2 the oldest.
        Assert.True(map.TryGet(1, out _, stamp: 12));
        Assert.True(map.Add(3, "c", 13, out var evicted));
        Assert.Equal(new KeyValuePair<int, string>(2, "b"), evicted);
        Assert.Equal(2, map.Count);
        Assert.False(map.TryGet(2, out _));
        Assert.True(map.TryGet(1, out _));
        Assert.True(map.TryGet(3, out _));
    }

    [Fact]
    public void TryGet_WithoutStamp_DoesNotChangeTheOrder()
    {
        var map = new LruMap<int, string>(2);
        map.Add(1, "a", 10, out _);
        map.Add(2, "b", 11, out _);
        map.TryGet(1, out _);
        Assert.True(map.TryPeekOldest(out var key, out _, out var stamp));
        Assert.Equal(1, key);
        Assert.Equal(10, stamp);
    }

    [Fact]
    public void TryPeekOldest_FollowsTouchesAndRemovals()
    {
        var map = new LruMap<int, string>(4);
        Assert.False(map.TryPeekOldest(out _, out _, out _));
        for (var i = 0; i < 4; i++)
        {
            map.Add(i, $"v{i}", 100 + i, out _);
        }

        map.TryGet(0, out _, stamp: 200);
        map.Remove(1, out var removed);
        Assert.Equal("v1", removed);
        Assert.True(map.TryPeekOldest(out var key, out var value, out var stamp));
        Assert.Equal((2, "v2", 102L), (key, value, stamp));
    }

    [Fact]
    public void Add_ExistingKey_ThrowsAndChangesNothing()
    {
        var map = new LruMap<int, string>(1);
        map.Add(1, "a", 10, out _);
        Assert.Throws<ArgumentException>(() => map.Add(1, "b", 11, out _));
        Assert.True(map.TryGet(1, out var value));
        Assert.Equal("a", value);
    }

    /// <summary>Against a naive model: any sequence of operations leaves the same contents and the same eviction order.</summary>
    [Fact]
    public void Operations_MatchASimpleListModel()
    {
        const int capacity = 8;
        var map = new LruMap<int, int>(capacity);
        var model = new List<int>(); // most recent first
        var random = new Random(1234);
        for (var step = 0; step < 20_000; step++)
        {
            var key = random.Next(24);
            switch (random.Next(3))
            {
                case 0 when !model.Contains(key):
                    var evictedAny = map.Add(key, key * 10, step, out var evicted);
                    if (model.Count == capacity)
                    {
                        Assert.True(evictedAny);
                        Assert.Equal(model[^1], evicted.Key);
                        model.RemoveAt(model.Count - 1);
                    }
                    else
                    {
                        Assert.False(evictedAny);
                    }

                    model.Insert(0, key);
                    break;
                case 1:
                    Assert.Equal(model.Contains(key), map.TryGet(key, out var value, stamp: step));
                    if (model.Remove(key))
                    {
                        Assert.Equal(key * 10, value);
                        model.Insert(0, key);
                    }

                    break;
                case 2:
                    Assert.Equal(model.Remove(key), map.Remove(key, out _));
                    break;
            }

            Assert.Equal(model.Count, map.Count);
            Assert.Equal(model.Count > 0, map.TryPeekOldest(out var oldest, out _, out _));
            if (model.Count > 0)
            {
                Assert.Equal(model[^1], oldest);
            }
        }
    }
}
