namespace TransparentSocks.TestSupport;

/// <summary>
/// Dante's <c>username</c> method checks the system password database, so auth tests need a real
/// system account. This one has no home and no login shell.
/// </summary>
public static class DanteUser
{
    public const string Username = "tsocks-test";
    public const string Password = "tsocks-pass-1";

    private static readonly SemaphoreSlim Gate = new(1, 1);
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

            await SystemAccounts.EnsureUserAsync(Username);
            await SystemAccounts.SetPasswordAsync(Username, Password);
            _ensured = true;
        }
        finally
        {
            Gate.Release();
        }
    }
}
