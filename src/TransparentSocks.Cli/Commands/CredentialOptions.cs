using System.CommandLine;
using System.Text;

namespace TransparentSocks.Cli.Commands;

/// <summary>
/// --username with --password-file (or, with a warning, --password). The password is read here and sent to the daemon
/// only; it is never printed.
/// </summary>
internal sealed class CredentialOptions
{
    private const int MaxLength = 255;

    public const string Socks5Scheme = "SOCKS5 username/password, RFC 1929";

    public CredentialOptions(string whose, string scheme = Socks5Scheme)
    {
        Username = new Option<string>("--username")
        {
            Description = $"Username for {whose} ({scheme}); needs --password-file",
            HelpName = "USER",
        };
        PasswordFile = new Option<string>("--password-file")
        {
            Description = "File holding the password; one trailing newline is ignored",
            HelpName = "FILE",
        };
        Password = new Option<string>("--password")
        {
            Description = "The password itself: visible to every user in ps and kept in shell history; prefer --password-file",
            HelpName = "PASSWORD",
        };
    }

    public Option<string> Username { get; }

    public Option<string> PasswordFile { get; }

    public Option<string> Password { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Username);
        command.Options.Add(PasswordFile);
        command.Options.Add(Password);
    }

    /// <summary>False (with the reason on <paramref name="error"/>) when the options do not make one username and one password.</summary>
    public bool TryResolve(ParseResult parse, TextWriter error, out string? username, out string? password)
    {
        username = parse.GetValue(Username);
        password = null;
        var file = parse.GetValue(PasswordFile);
        var inline = parse.GetValue(Password);

        if (file is not null && inline is not null)
        {
            return Fail(error, "use either --password-file or --password, not both");
        }

        if (inline is not null)
        {
            error.WriteLine("warning: --password is visible to other users in ps and stays in shell history; use --password-file");
            password = inline;
        }
        else if (file is not null && !TryReadPasswordFile(file, error, out password))
        {
            return false;
        }

        if (username is null && password is null)
        {
            return true;
        }

        if (username is null)
        {
            return Fail(error, "a password needs --username");
        }

        if (password is null)
        {
            return Fail(error, "--username needs --password-file (or --password)");
        }

        if (Encoding.UTF8.GetByteCount(username) is 0 or > MaxLength)
        {
            return Fail(error, "the username must be 1-255 bytes");
        }

        if (Encoding.UTF8.GetByteCount(password) is 0 or > MaxLength)
        {
            return Fail(error, "the password must be 1-255 bytes");
        }

        return true;
    }

    private static bool TryReadPasswordFile(string path, TextWriter error, out string? password)
    {
        password = null;
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail(error, $"cannot read password file {path}: {ex.Message}");
        }

        // Files written by echo or an editor end with a newline that is not part of the password.
        if (text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            text = text[..^2];
        }
        else if (text.EndsWith('\n'))
        {
            text = text[..^1];
        }

        password = text;
        return true;
    }

    private static bool Fail(TextWriter error, string message)
    {
        error.WriteLine($"error: {message}");
        return false;
    }
}
