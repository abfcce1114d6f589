# Accepts one connection on 127.0.0.1:PORT, saves what arrives until the TLS records hold a whole handshake message
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1)
c, _ = s.accept(); c.settimeout(3)
data = b""
def complete(d):
    # concatenate handshake payloads of leading type-22 records; done when the first message is whole
    hs, i = b"", 0
    while i + 5 <= len(d) and d[i] == 22:
        n = int.from_bytes(d[i+3:i+5], "big")
        if i + 5 + n > len(d): break
        hs += d[i+5:i+5+n]; i += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            return i
    return None
while True:
    try:
        b = c.recv(65536)
    except socket.timeout:
        break
    if not b: break
    data += b
    n = complete(data)
    if n: data = data[:n]; break
open(out, "wb").write(data)
c.close(); s.close()
