using SharpFuzz;
using TransparentSocks.Fuzz.Targets;

// Usage: TransparentSocks.Fuzz TARGET            run under afl-fuzz (input on stdin, once when not under AFL)
//        TransparentSocks.Fuzz TARGET FILE...    replay files, e.g. a crash afl-fuzz saved, and say which fail
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: TransparentSocks.Fuzz {{{string.Join('|', FuzzTargets.All.Keys)}}} [FILE...]");
    return 2;
}

if (args.Length > 1)
{
    var failed = 0;
    foreach (var file in args[1..])
    {
        try
        {
            target(File.ReadAllBytes(file));
        }
        catch (Exception ex)
        {
            failed++;
            Console.Error.WriteLine($"{file}: {ex}");
        }
    }

    Console.WriteLine($"{args[0]}: {args.Length - 1 - failed} passed, {failed} failed");
    return failed == 0 ? 0 : 1;
}

Fuzzer.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
