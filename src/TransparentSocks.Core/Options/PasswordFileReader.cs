namespace TransparentSocks.Options;

/// <summary>
/// Returns the whole text of the password file at <paramref name="fullPath"/>, an absolute path. Core does no I/O, so
/// whoever parses a config supplies this. Throw <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>
/// when the file cannot be read: the message becomes part of the validation error at that passwordFile key.
/// </summary>
public delegate string PasswordFileReader(string fullPath);
