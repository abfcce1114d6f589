namespace TransparentSocks.Socks;

/// <summary>A client's opening message: the authentication methods it can do.</summary>
public readonly record struct Socks5Greeting(Socks5MethodSet Methods);
