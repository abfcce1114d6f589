using System.Buffers.Binary;
using System.Text;

namespace TransparentSocks.Core.Tests.Sniffing;

/// <summary>
/// Builds ClientHellos the captured clients do not send: GREASE, unknown extensions, ECH, odd lengths, several records.
/// Fields are raw bytes, so a test can also build one that is subtly wrong.
/// </summary>
internal sealed class ClientHelloBuilder
{
    public const ushort Grease = 0x2a2a;

    public ushort LegacyVersion { get; set; } = 0x0303;

    public byte[] SessionId { get; set; } = new byte[32];

    public List<ushort> CipherSuites { get; } = [0x1301, 0x1302, 0xc02f];

    public byte[] Compression { get; set; } = [0];

    /// <summary>Null writes no extensions block at all, as a TLS 1.0 client may.</summary>
    public List<(ushort Type, byte[] Data)>? Extensions { get; set; } = [];

    public ushort RecordVersion { get; set; } = 0x0301;

    public static ClientHelloBuilder WithServerName(string name) => new ClientHelloBuilder().AddServerName(name);

    public ClientHelloBuilder AddServerName(string name) => Add(0x0000, ServerNameList((0, Encoding.ASCII.GetBytes(name))));

    public ClientHelloBuilder Add(ushort type, byte[] data)
    {
        (Extensions ??= []).Add((type, data));
        return this;
    }

    /// <summary>supported_versions, TLS 1.3 and 1.2, what makes a hello a TLS 1.3 one.</summary>
    public ClientHelloBuilder AddTls13() => Add(0x002b, [4, 0x03, 0x04, 0x03, 0x03]);

    public static byte[] ServerNameList(params (byte Type, byte[] Name)[] names)
    {
        var list = names.SelectMany(n => new[] { n.Type }.Concat(U16(n.Name.Length)).Concat(n.Name)).ToArray();
        return [.. U16(list.Length), .. list];
    }

    /// <summary>The handshake message: type 1, 24-bit length, body.</summary>
    public byte[] Message()
    {
        var body = new List<byte>();
        body.AddRange(U16(LegacyVersion));
        body.AddRange(Enumerable.Range(0, 32).Select(i => (byte)i));
        body.Add((byte)SessionId.Length);
        body.AddRange(SessionId);
        body.AddRange(U16(CipherSuites.Count * 2));
        foreach (var suite in CipherSuites)
        {
            body.AddRange(U16(suite));
        }

        body.Add((byte)Compression.Length);
        body.AddRange(Compression);
        if (Extensions is not null)
        {
            var extensions = Extensions.SelectMany(e => U16(e.Type).Concat(U16(e.Data.Length)).Concat(e.Data)).ToArray();
            body.AddRange(U16(extensions.Length));
            body.AddRange(extensions);
        }

        return [1, (byte)(body.Count >> 16), (byte)(body.Count >> 8), (byte)body.Count, .. body];
    }

    /// <summary>The message in one record.</summary>
    public byte[] Build() => Records(Message(), RecordVersion);

    /// <summary>The message cut into records of the given payload lengths, the last taking the rest.</summary>
    public byte[] BuildSplit(params int[] payloadLengths) => Records(Message(), RecordVersion, payloadLengths);

    public static byte[] Records(byte[] message, ushort version, params int[] payloadLengths)
    {
        var output = new List<byte>();
        var offset = 0;
        foreach (var length in payloadLengths.Append(message.Length))
        {
            var take = Math.Min(length, message.Length - offset);
            if (take <= 0)
            {
                break;
            }

            output.Add(22);
            output.AddRange(U16(version));
            output.AddRange(U16(take));
            output.AddRange(message.AsSpan(offset, take).ToArray());
            offset += take;
        }

        return [.. output];
    }

    /// <summary>The handshake message of a capture, its records' payloads joined, to re-frame.</summary>
    public static byte[] MessageOf(byte[] records)
    {
        var message = new List<byte>();
        for (var at = 0; at + 5 <= records.Length; at += 5 + BinaryPrimitives.ReadUInt16BigEndian(records.AsSpan(at + 3)))
        {
            message.AddRange(records.AsSpan(at + 5, BinaryPrimitives.ReadUInt16BigEndian(records.AsSpan(at + 3))).ToArray());
        }

        return [.. message];
    }

    public static byte[] U16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        return bytes;
    }
}
