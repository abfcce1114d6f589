using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TransparentSocks.Engine.Tests;

/// <summary>Keeps every formatted line an engine component logs, at every level, for tests that read the log.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly ConcurrentQueue<(EventId Id, string Message)> _entries = new();

    public IReadOnlyList<(EventId Id, string Message)> Entries => [.. _entries];

    /// <summary>The log as a console sink would write it: one message per line.</summary>
    public string Text => string.Concat(_entries.Select(e => e.Message + "\n"));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => _entries.Enqueue((eventId, formatter(state, exception)));
}
