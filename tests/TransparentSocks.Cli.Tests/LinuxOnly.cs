using System.Runtime.Versioning;

// The CLI talks to a Unix socket on Linux gateways; its tests set file modes and switch users.
[assembly: SupportedOSPlatform("linux")]
