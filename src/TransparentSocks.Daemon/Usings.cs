// The namespaces nearly every file of this project reads; a file names only what is particular to it.
global using Microsoft.Extensions.Logging;
global using TransparentSocks.Control;
global using TransparentSocks.Daemon.Hosting;
global using TransparentSocks.Daemon.Logging;
global using TransparentSocks.Options;
