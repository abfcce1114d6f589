namespace TransparentSocks.Fuzz.Targets;

/// <summary>
/// A broken contract, not a bad input: the targets throw it so that afl-fuzz records a crash, and the replay test
/// fails with the same message.
/// </summary>
public sealed class InvariantViolationException : Exception
{
    public InvariantViolationException()
    {
    }

    public InvariantViolationException(string message)
        : base(message)
    {
    }

    public InvariantViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new InvariantViolationException(message);
        }
    }
}
