#!/usr/bin/env python3
"""The upstream-group benchmark (bench/upstreams.sh runs it): failover time and the pre-authenticated pool's gain.

Everything runs on loopback, through transparentsocksd's SOCKS5 server, whose outbound is a group or an upstream:
the group logic and the pool are the same code on the transparent path, and loopback keeps the kernel's TPROXY
path out of numbers that are about the upstream side.

  upstreams.py target PORT SECONDS   the target: answers each connection with the peer address it saw, then closes
  upstreams.py run OUT_DIR           the benchmark (see bench/README.md); the report goes to stdout

Which upstream carried a connection is not guessed: each microsocks binds its outgoing connections to its own
loopback address (-b 127.0.0.2 / 127.0.0.3), and the target writes the address it saw into its answer.
Every process it starts is stopped by PID; every loop is bounded in count and in time.
"""

import json
import shlex
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DAEMON = shlex.split(os.environ.get("DAEMON", os.path.join(HERE, "out", "daemon", "transparentsocksd")))
PRIMARY_OUT, BACKUP_OUT = "127.0.0.2", "127.0.0.3"


# ---------------------------------------------------------------- the target
def cmd_target(port, seconds):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(512)
    srv.settimeout(1.0)
    deadline = time.monotonic() + float(seconds)

    def serve(conn, peer):
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(512)
                body = peer[0].encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass

    while time.monotonic() < deadline:
        try:
            conn, peer = srv.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


# ---------------------------------------------------------------- the client
def one(proxy_port, target_port, timeout=10.0):
    """One SOCKS5 CONNECT through the daemon and one request. Returns (ok, seconds to the first byte, total, peer)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", proxy_port))
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            return False, None, time.monotonic() - t0, None
        s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + target_port.to_bytes(2, "big"))
        reply = b""
        while len(reply) < 10:
            chunk = s.recv(10 - len(reply))
            if not chunk:
                return False, None, time.monotonic() - t0, None
            reply += chunk
        if reply[1] != 0:
            return False, None, time.monotonic() - t0, None
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = s.recv(4096)
        first = time.monotonic() - t0
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        peer = data.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in data else None
        return peer is not None, first, time.monotonic() - t0, peer
    except OSError:
        return False, None, time.monotonic() - t0, None
    finally:
        s.close()


# ---------------------------------------------------------------- processes
class Procs:
    def __init__(self, out):
        self.out, self.running = out, []

    def start(self, name, argv):
        log = open(os.path.join(self.out, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.running.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.running:
            self.running.remove(p)

    def stop_all(self):
        for p in reversed(list(self.running)):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)   # a stopped one cannot act on SIGTERM
            self.stop(p)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listen(port, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"upstreams.py: pid {proc.pid} exited ({proc.returncode}) before listening on {port}")
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise SystemExit(f"upstreams.py: nothing listens on {port} after {seconds} s")


def microsocks(procs, name, port, bind, user=None):
    argv = ["microsocks", "-i", "127.0.0.1", "-p", str(port), "-b", bind]
    if user:
        argv += ["-u", user[0], "-P", user[1]]
    p = procs.start(name, argv)
    wait_listen(port, p)
    return p


def daemon(procs, out, name, port, config):
    config = dict(config)
    config["server"] = {"enabled": True, "listen": f"127.0.0.1:{port}", "allowPrivateDestinations": True, **config.get("server", {})}
    config["control"] = {"socket": os.path.join(out, name + ".sock")}
    config["logging"] = {"level": "information"}
    path = os.path.join(out, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    p = procs.start(name, [*DAEMON, "--config", path])
    wait_listen(port, p)
    return p


# ---------------------------------------------------------------- failover
def failover(procs, out, target_port, scenario, seconds=14.0, fault_at=3.0, heal_at=8.0, pace=0.01):
    """A paced stream of new connections; the primary fails at fault_at (kill -9, or SIGSTOP) and comes back at heal_at."""
    p_port, b_port, d_port = free_port(), free_port(), free_port()
    primary = microsocks(procs, f"primary-{scenario}", p_port, PRIMARY_OUT)
    backup = microsocks(procs, f"backup-{scenario}", b_port, BACKUP_OUT)
    health = {"interval": 1, "timeout": 1, "failures": 2, "successes": 2}
    d = daemon(procs, out, f"ts-failover-{scenario}", d_port, {
        "upstream": {"connectTimeout": 5},
        "upstreams": [{"name": "primary", "address": f"127.0.0.1:{p_port}"}, {"name": "backup", "address": f"127.0.0.1:{b_port}"}],
        "groups": [{"name": "main", "policy": "failover", "members": ["primary", "backup"], "healthCheck": health}],
        "server": {"outbound": "main"},
    })
    time.sleep(1.5)   # a first round of checks
    records, t_fault, t_heal, start = [], None, None, time.monotonic()
    while time.monotonic() - start < seconds and len(records) < 5000:
        now = time.monotonic() - start
        if t_fault is None and now >= fault_at:
            t_fault = now
            if scenario == "kill":
                procs.stop(primary, signal.SIGKILL)
            else:
                os.kill(primary.pid, signal.SIGSTOP)
        if t_heal is None and now >= heal_at:
            t_heal = now
            if scenario == "kill":
                primary = microsocks(procs, f"primary-{scenario}-again", p_port, PRIMARY_OUT)
            else:
                os.kill(primary.pid, signal.SIGCONT)
        t0 = time.monotonic() - start
        ok, first, total, peer = one(d_port, target_port)
        records.append({"t": t0, "ok": ok, "first": first, "total": total, "via": {PRIMARY_OUT: "primary", BACKUP_OUT: "backup"}.get(peer)})
        time.sleep(pace)
    procs.stop(d)
    for p in (primary, backup):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGCONT)
        procs.stop(p)

    after = [r for r in records if r["t"] >= t_fault and r["t"] < t_heal]
    first_ok = next((r for r in after if r["ok"]), None)
    back = next((r for r in records if r["t"] >= t_heal and r["via"] == "primary"), None)
    before = [r for r in records if r["t"] < t_fault]
    return {
        "scenario": scenario,
        "connections": len(records),
        "failed": sum(not r["ok"] for r in records),
        "failed_after_fault": sum(not r["ok"] for r in after),
        "before_on_primary": sum(r["via"] == "primary" for r in before) / max(1, len(before)),
        "fault_to_first_success_ms": None if first_ok is None else (first_ok["t"] + first_ok["total"] - t_fault) * 1000,
        "first_success_via": None if first_ok is None else first_ok["via"],
        "worst_after_fault_ms": max((r["total"] for r in after), default=0) * 1000,
        "p50_after_fault_ms": statistics.median([r["total"] for r in after]) * 1000 if after else None,
        "slow_after_fault": sum(r["total"] > 0.5 for r in after),
        "heal_to_primary_ms": None if back is None else (back["t"] - t_heal) * 1000,
        "health": health,
    }


# ---------------------------------------------------------------- the pool
def pool(procs, out, target_port, upstream_kind, n):
    """n connections through each of two daemons, one pooling and one not, interleaved one by one."""
    u_port = free_port()
    if upstream_kind == "microsocks-auth":
        up = microsocks(procs, "pool-upstream", u_port, "127.0.0.1", ("bench", "bench-pass"))
        auth = {"username": "bench", "password": "bench-pass"}
    else:
        up = microsocks(procs, "pool-upstream", u_port, "127.0.0.1")
        auth = {}
    ports = {"no-pool": free_port(), "pool": free_port()}
    daemons = {}
    for name, pooling in (("no-pool", False), ("pool", True)):
        upstream = {"address": f"127.0.0.1:{u_port}", **auth}
        if pooling:
            upstream.update({"pooling": True, "maxPoolSize": 32})
        daemons[name] = daemon(procs, out, f"ts-{name}-{upstream_kind}", ports[name], {"upstream": upstream, "server": {"outbound": "upstream"}})
    time.sleep(1.0)   # let the pool fill
    firsts = {"no-pool": [], "pool": []}
    failures = {"no-pool": 0, "pool": 0}
    deadline = time.monotonic() + 120
    for i in range(n):
        if time.monotonic() > deadline:
            break
        order = ("pool", "no-pool") if i % 2 else ("no-pool", "pool")
        for name in order:
            ok, first, _, _ = one(ports[name], target_port)
            if ok:
                firsts[name].append(first * 1000)
            else:
                failures[name] += 1
    for p in daemons.values():
        procs.stop(p)
    procs.stop(up)

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None

    result = {"upstream": upstream_kind, "connections_each": len(firsts["pool"])}
    for name in firsts:
        result[name] = {"p50_ms": pct(firsts[name], 0.5), "p90_ms": pct(firsts[name], 0.9), "p99_ms": pct(firsts[name], 0.99), "failures": failures[name]}
    result["p50_ratio"] = result["pool"]["p50_ms"] / result["no-pool"]["p50_ms"]
    return result


def cmd_run(out):
    os.makedirs(out, exist_ok=True)
    procs = Procs(out)
    target_port = free_port()
    target = procs.start("target", [sys.executable, os.path.abspath(__file__), "target", str(target_port), "600"])
    try:
        wait_listen(target_port, target)
        n = int(os.environ.get("POOL_CONNS", "2000"))
        results = {
            "failover": [failover(procs, out, target_port, s) for s in ("kill", "stop")],
            "pool": [pool(procs, out, target_port, k, n) for k in ("microsocks", "microsocks-auth")],
        }
    finally:
        procs.stop_all()
    return results


def report(results, meta):
    lines = ["# Upstream groups: failover time and the pool's gain", "", meta, "",
             "## Failover (kill to first successful new connection)", "",
             "A failover group of two microsocks, health checks every 1 s (timeout 1 s, 2 failures down, 2 successes up), "
             "`upstream.connectTimeout` 5 s; one new connection every ~10 ms through the daemon's server. The primary fails "
             "at 3 s (`kill -9`: connects are refused; `SIGSTOP`: connects complete in the kernel and nothing answers) and "
             "comes back at 8 s.", "",
             "| fault | connections | failed | fault → first success | via | worst latency after the fault | > 500 ms | back on the primary after |",
             "|---|---|---|---|---|---|---|---|"]
    for f in results["failover"]:
        fmt = lambda v: "—" if v is None else f"{v:.0f} ms"  # noqa: E731
        lines.append(f"| {'kill -9' if f['scenario'] == 'kill' else 'SIGSTOP'} | {f['connections']} | {f['failed']} | "
                     f"{fmt(f['fault_to_first_success_ms'])} | {f['first_success_via']} | {fmt(f['worst_after_fault_ms'])} | "
                     f"{f['slow_after_fault']} | {fmt(f['heal_to_primary_ms'])} |")
    lines += ["", "## The pre-authenticated pool: connect to first byte", "",
              "Two daemons side by side on the same upstream, one with `upstream.pooling` (maxPoolSize 32) and one without; "
              "connections alternate between them one by one, so both see the same machine. Time from the client's connect "
              "to the first byte of the target's answer, through the daemon's SOCKS5 server and the upstream.", "",
              "| upstream | connections each | no pool p50 / p90 / p99 | pool p50 / p90 / p99 | pool ÷ no pool (p50) |",
              "|---|---|---|---|---|"]
    for p in results["pool"]:
        a, b = p["no-pool"], p["pool"]
        lines.append(f"| {p['upstream']} | {p['connections_each']} | {a['p50_ms']:.3f} / {a['p90_ms']:.3f} / {a['p99_ms']:.3f} ms | "
                     f"{b['p50_ms']:.3f} / {b['p90_ms']:.3f} / {b['p99_ms']:.3f} ms | {p['p50_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "target":
        cmd_target(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "run":
        res = cmd_run(sys.argv[2])
        meta = os.environ.get("BENCH_META", "")
        with open(os.path.join(HERE, "results", "upstreams-latest.json"), "w") as f:
            json.dump({"meta": meta, **res}, f, indent=2)
        text = report(res, meta)
        with open(os.path.join(HERE, "results", "upstreams-latest.md"), "w") as f:
            f.write(text)
        sys.stdout.write(text)
    else:
        raise SystemExit(__doc__)
