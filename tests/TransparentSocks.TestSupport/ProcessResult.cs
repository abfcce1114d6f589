namespace TransparentSocks.TestSupport;

/// <summary>What a finished program left behind.</summary>
public sealed record ProcessResult(int ExitCode, string Output, string Error);
