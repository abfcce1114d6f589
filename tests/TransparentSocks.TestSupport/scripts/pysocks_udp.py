#!/usr/bin/python3
"""SOCKS5 UDP ASSOCIATE with Debian's python3-socks (PySocks), as a real client uses it.

Sends one datagram per size, in order, each after the previous one's reply or timeout, and prints one
JSON object per line: "associated" (local and relay endpoints), then "reply" or "timeout" per datagram.
A setup failure (refused connection, refused association) prints "error" and exits 1.
The payload of datagram i is a pattern of its own, so a reply can be checked byte for byte.
"""

import argparse
import json
import socket
import sys

import socks


def payload(index, size):
    return bytes((index * 31 + j) % 251 for j in range(size))


def emit(**fields):
    print(json.dumps(fields), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy-host", required=True)
    parser.add_argument("--proxy-port", type=int, required=True)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--dest-host", required=True)
    parser.add_argument("--dest-port", type=int, required=True)
    parser.add_argument("--sizes", required=True, help="comma-separated payload sizes")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply")
    parser.add_argument("--no-rdns", action="store_true",
                        help="resolve locally; PySocks' default (rdns) declares the domain \"0\" in UDP ASSOCIATE")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    # PySocks only relays UDP for AF_INET sockets: its control connection is always IPv4.
    sock = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.set_proxy(socks.SOCKS5, args.proxy_host, args.proxy_port, rdns=not args.no_rdns,
                   username=args.user, password=args.password)
    sock.settimeout(args.timeout)
    try:
        # bind() is where PySocks opens the control connection and sends UDP ASSOCIATE.
        sock.bind(("", 0))
    except (socks.ProxyError, OSError) as error:
        emit(event="error", message=f"{type(error).__name__}: {error}")
        return 1

    local = sock.getsockname()
    relay = socket.socket.getpeername(sock)
    emit(event="associated", local=[local[0], local[1]], relay=[relay[0], relay[1]])
    try:
        for index, size in enumerate(sizes):
            sent = payload(index, size)
            sock.sendto(sent, (args.dest_host, args.dest_port))
            try:
                data, source = sock.recvfrom(65535)
            except socket.timeout:
                emit(event="timeout", index=index, size=size)
                continue
            emit(event="reply", index=index, size=len(data), host=source[0], port=source[1], intact=data == sent)
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
