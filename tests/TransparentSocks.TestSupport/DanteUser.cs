namespace TransparentSocks.TestSupport;

/// <summary>
/// Dante's <c>username</c> method checks the system password database, so auth tests need a real
/// system account. This one has no home and no login shell.
/// </summary>
public static class DanteUser
{
    public const string Username = "tsocks-test";
    public const string Password = "tsocks-pass-1";

    // useradd exits 9 when the user exists: another test process won the race.
    private const int UseraddUserExists = 9;
    private const int Attempts = 5;

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private static bool _ensured;

    /// <summary>Creates the user if missing and (re)sets its password. Idempotent and safe to call from parallel tests.</summary>
    public static async Task EnsureAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_ensured)
            {
                return;
            }

            var id = await ExternalProcess.RunAsync("id", ["-u", Username], CommandTimeout);
            if (id.ExitCode != 0)
            {
                await RetryWhileLockedAsync(
                    "useradd",
                    ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", Username],
                    stdin: null,
                    acceptedExitCode: UseraddUserExists);
            }

            await RetryWhileLockedAsync("chpasswd", [], stdin: $"{Username}:{Password}\n", acceptedExitCode: 0);
            _ensured = true;
        }
        finally
        {
            Gate.Release();
        }
    }

    // Test assemblies run in parallel processes; useradd and chpasswd fail while another holds the
    // /etc/passwd or /etc/shadow lock.
    private static async Task RetryWhileLockedAsync(string program, string[] arguments, string? stdin, int acceptedExitCode)
    {
        ProcessResult? last = null;
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            last = await ExternalProcess.RunAsync(program, arguments, CommandTimeout, stdin);
            if (last.ExitCode == 0 || last.ExitCode == acceptedExitCode)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200 * (attempt + 1)));
        }

        throw new InvalidOperationException(
            $"{program} {string.Join(' ', arguments)} failed with {last!.ExitCode}: {last.Error}{last.Output}");
    }
}
