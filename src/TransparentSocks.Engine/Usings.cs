// The namespaces nearly every file of this project reads; a file names only what is particular to it.
global using Microsoft.Extensions.Logging;
global using System.Net;
global using TransparentSocks.Addressing;
global using TransparentSocks.Engine.Dialing;
global using TransparentSocks.Engine.Stats;
global using TransparentSocks.Linux.Interop;
global using TransparentSocks.Linux.Sockets;
