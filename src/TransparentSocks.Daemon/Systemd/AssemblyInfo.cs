using System.Runtime.CompilerServices;

// The journald wire format and the notify protocol are tested without the rest of the daemon.
[assembly: InternalsVisibleTo("TransparentSocks.Packaging.Tests")]
