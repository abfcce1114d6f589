#!/usr/bin/env python3
"""Helpers for relay-iperf.sh: free ports, /proc sampling of a proxy's process tree, iperf3 JSON and the report.

Subcommands (all bounded in time; none opens a connection to anything):
  ports N                              print N free TCP ports on 127.0.0.1
  tree PID                             print PID and its descendants
  mem PID                              print "rss_kb pss_kb nprocs" summed over PID and its descendants
  sample PID OUT STOPFILE MAX_SECONDS  sample the tree's RSS every 100 ms until STOPFILE exists (or MAX_SECONDS);
                                       write {"peak_rss_kb", "cpu_s"} (CPU = utime+stime delta over the window) to OUT
  run RESULTS.jsonl IPERF.json ...     parse one iperf3 -J result and append one record to RESULTS.jsonl
  report RESULTS.jsonl META.json       print the markdown report
"""

import json
import os
import socket
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree(pid):
    """PID and all its descendants, via /proc/PID/task/TID/children (no full /proc scan)."""
    seen, stack = [], [pid]
    while stack and len(seen) < 10000:
        p = stack.pop()
        seen.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return seen


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17. The reaped children's share
        # (cutime, cstime) keeps the sum steady when a worker process exits mid-run (danted's children do).
        return sum(int(x) for x in fields[11:15])
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(pid):
    return sum(status_kb(p, "VmRSS") for p in tree(pid))


def tree_cpu_s(pid):
    return sum(cpu_ticks(p) for p in tree(pid)) / CLK_TCK


def cmd_ports(n):
    socks = []
    try:
        for _ in range(int(n)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        print(" ".join(str(s.getsockname()[1]) for s in socks))
    finally:
        for s in socks:
            s.close()


def cmd_tree(pid):
    print(" ".join(str(p) for p in tree(int(pid))))


def cmd_mem(pid):
    pids = tree(int(pid))
    print(sum(status_kb(p, "VmRSS") for p in pids), sum(pss_kb(p) for p in pids), len(pids))


def cmd_sample(pid, out, stopfile, max_seconds):
    pid = int(pid)
    deadline = time.monotonic() + float(max_seconds)
    cpu0 = tree_cpu_s(pid)
    peak = tree_rss(pid)
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        time.sleep(0.1)
        peak = max(peak, tree_rss(pid))
    cpu1 = tree_cpu_s(pid)
    with open(out, "w") as f:
        json.dump({"peak_rss_kb": peak, "cpu_s": round(cpu1 - cpu0, 3)}, f)


def cmd_run(results, iperf_json, proxy, direction, rnd, sample_json, expected_remote_port, sessions):
    try:
        with open(iperf_json) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        d = {"error": f"no iperf3 JSON ({e})"}
    record = {"proxy": proxy, "dir": direction, "round": int(rnd)}
    if d.get("error"):
        record["error"] = d["error"]
    else:
        end = d["end"]
        connected = d["start"].get("connected", [])
        record["bps"] = end["sum_received"]["bits_per_second"]
        record["bytes"] = end["sum_received"]["bytes"]
        record["retransmits"] = end.get("sum_sent", {}).get("retransmits")
        # The data socket's peer as iperf3 saw it: the proxy's port when proxychains routed it.
        record["data_peer_port"] = connected[0]["remote_port"] if connected else None
        record["expected_peer_port"] = int(expected_remote_port)
        record["sessions"] = int(sessions) if sessions != "-" else None
    if sample_json != "-" and os.path.exists(sample_json):
        with open(sample_json) as f:
            record.update(json.load(f))
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    if "error" in record:
        print(f"  {proxy} {direction}: iperf3 error: {record['error']}", file=sys.stderr)
        return 1
    line = f"  {proxy:<12} {direction:<3} {record['bps'] / 1e9:7.2f} Gbit/s"
    if "cpu_s" in record:
        line += f"  proxy cpu {record['cpu_s']:.2f} s  peak rss {record['peak_rss_kb'] / 1024:.1f} MiB"
    if record["sessions"] is not None:
        line += f"  sessions {record['sessions']}"
    print(line, file=sys.stderr)
    ok = record["data_peer_port"] == record["expected_peer_port"] and record["sessions"] in (None, 2)
    if not ok:
        print(f"  {proxy} {direction}: NOT ROUTED as expected (data peer port {record['data_peer_port']}, "
              f"expected {record['expected_peer_port']}; proxy sessions {record['sessions']}, expected 2)",
              file=sys.stderr)
        return 3
    return 0


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}"


def cmd_report(results, meta_path):
    with open(meta_path) as f:
        meta = json.load(f)
    runs = [json.loads(line) for line in open(results) if line.strip()]
    order = meta["proxies"]

    def ok_runs(proxy, direction):
        return [r for r in runs if r["proxy"] == proxy and r["dir"] == direction and "bps" in r]

    def med(proxy, direction, key="bps"):
        vals = [r[key] for r in ok_runs(proxy, direction) if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def cpu_per_gb(proxy, direction=None):
        rs = [r for d in (("fwd", "rev") if direction is None else (direction,)) for r in ok_runs(proxy, d)]
        cpu = sum(r.get("cpu_s", 0) for r in rs)
        gb = sum(r["bytes"] for r in rs) / 1e9
        return cpu / gb if gb and any("cpu_s" in r for r in rs) else None

    out = []
    out.append("# Relay throughput: single TCP stream over loopback (iperf3 via proxychains4)")
    out.append("")
    out.append(f"- date: {meta['date']}")
    out.append(f"- kernel: {meta['kernel']}")
    out.append(f"- cpu: {meta['cpu']} ({meta['nproc']} cores, shared by iperf3 client + server + proxy)")
    out.append(f"- transparentsocksd: {meta['commit']}")
    out.append(f"- peers: {meta['versions']}")
    out.append(f"- {meta['duration']} s per run, {meta['repeats']} round(s), each round visits every proxy in a rotated "
               f"order; throughput is the median over rounds, ratios are ratios of medians.")
    out.append("")
    out.append("| proxy | fwd Gbit/s | rev Gbit/s | fwd vs direct | rev vs direct | fwd vs microsocks | rev vs microsocks "
               "| idle RSS MiB | peak RSS MiB | proxy CPU s/GB |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in order:
        f_, r_ = med(p, "fwd"), med(p, "rev")
        idle = meta["idle"].get(p)
        peaks = [r["peak_rss_kb"] for r in runs if r["proxy"] == p and "peak_rss_kb" in r]
        gbit = lambda x: "–" if x is None else f"{x / 1e9:.2f}"
        mib = lambda kb: "–" if kb is None else f"{kb / 1024:.1f}"
        cpg = cpu_per_gb(p)
        out.append(
            f"| {p} | {gbit(f_)} | {gbit(r_)} "
            f"| {fmt_ratio(ratio(f_, med('direct', 'fwd')))} | {fmt_ratio(ratio(r_, med('direct', 'rev')))} "
            f"| {fmt_ratio(ratio(f_, med('microsocks', 'fwd')))} | {fmt_ratio(ratio(r_, med('microsocks', 'rev')))} "
            f"| {mib(idle['rss_kb'] if idle else None)} | {mib(max(peaks) if peaks else None)} "
            f"| {'–' if cpg is None else f'{cpg:.2f}'} |")
    out.append("")
    out.append("fwd = client → server through the proxy (`iperf3 -c`); rev = server → client (`iperf3 -c -R`). "
               "RSS is VmRSS summed over the proxy's process tree: idle = after start, before any connection; "
               "peak = highest 100 ms sample during any run. CPU s/GB = proxy utime+stime per 10^9 bytes received "
               "by iperf3, both directions pooled.")
    out.append("")
    out.append("Idle memory in detail (PSS counts shared pages once, which matters for danted's many processes):")
    out.append("")
    out.append("| proxy | processes | idle RSS MiB | idle PSS MiB |")
    out.append("|---|---:|---:|---:|")
    for p in order:
        idle = meta["idle"].get(p)
        if idle:
            out.append(f"| {p} | {idle['nprocs']} | {idle['rss_kb'] / 1024:.1f} | {idle['pss_kb'] / 1024:.1f} |")
    out.append("")
    out.append("Every run (Gbit/s, proxy CPU seconds):")
    out.append("")
    out.append("| proxy | dir | " + " | ".join(f"round {i + 1}" for i in range(meta["repeats"])) + " | CPU s/GB |")
    out.append("|---|---|" + "---:|" * meta["repeats"] + "---:|")
    for p in order:
        for d in ("fwd", "rev"):
            cells = []
            for i in range(meta["repeats"]):
                rs = [r for r in runs if r["proxy"] == p and r["dir"] == d and r["round"] == i + 1]
                if not rs:
                    cells.append("–")
                elif "bps" not in rs[0]:
                    cells.append("error")
                else:
                    r = rs[0]
                    cell = f"{r['bps'] / 1e9:.2f}"
                    if "cpu_s" in r:
                        cell += f" ({r['cpu_s']:.1f} s)"
                    cells.append(cell)
            cpg = cpu_per_gb(p, d)
            out.append(f"| {p} | {d} | " + " | ".join(cells) + f" | {'–' if cpg is None else f'{cpg:.2f}'} |")
    out.append("")
    print("\n".join(out))


def main(argv):
    commands = {"ports": cmd_ports, "tree": cmd_tree, "mem": cmd_mem, "sample": cmd_sample, "run": cmd_run,
                "report": cmd_report}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 64
    return commands[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
