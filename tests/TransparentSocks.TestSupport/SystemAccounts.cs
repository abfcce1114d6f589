namespace TransparentSocks.TestSupport;

/// <summary>
/// Creates the system groups and users tests need, on a fresh machine as well as on one that has them already.
/// Test assemblies run in parallel processes, and useradd, groupadd and chpasswd fail while another process holds
/// the /etc/passwd, /etc/group or /etc/shadow lock, so every call retries; a failure that outlasts the retries
/// throws with the tool's own message rather than leaving the test to fail later for a reason it cannot name.
/// </summary>
public static class SystemAccounts
{
    // useradd exits 9 when the user exists, groupadd when the group does: another test process won the race.
    private const int AlreadyExists = 9;
    private const int Attempts = 8;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A system group, created if missing.</summary>
    public static async Task EnsureGroupAsync(string group)
    {
        if (!await ExistsAsync("group", group))
        {
            await RetryWhileLockedAsync("groupadd", ["--system", group], stdin: null, AlreadyExists);
        }
    }

    /// <summary>A system user with no home and no login shell, created if missing, and a member of <paramref name="groups"/>.</summary>
    public static async Task EnsureUserAsync(string user, params string[] groups)
    {
        foreach (var group in groups)
        {
            await EnsureGroupAsync(group);
        }

        if (!await ExistsAsync("passwd", user))
        {
            string[] arguments = groups.Length == 0
                ? ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user]
                : ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", string.Join(',', groups), user];
            await RetryWhileLockedAsync("useradd", arguments, stdin: null, AlreadyExists);
        }

        var memberOf = (await ExternalProcess.RunAsync("id", ["-nG", user], CommandTimeout)).Output
            .Split(' ', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var group in groups.Except(memberOf))
        {
            await RetryWhileLockedAsync("usermod", ["-a", "-G", group, user], stdin: null, acceptedExitCode: 0);
        }
    }

    /// <summary>Sets a user's password (chpasswd), for servers such as danted that check the system database.</summary>
    public static Task SetPasswordAsync(string user, string password)
        => RetryWhileLockedAsync("chpasswd", [], stdin: $"{user}:{password}\n", acceptedExitCode: 0);

    private static async Task<bool> ExistsAsync(string database, string name)
        => (await ExternalProcess.RunAsync("getent", [database, name], CommandTimeout)).ExitCode == 0;

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
