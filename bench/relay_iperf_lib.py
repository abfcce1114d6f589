#!/usr/bin/env python3
"""Helpers for relay-iperf.sh: free ports, the checks of a relay run and its report.

Subcommands (all bounded in time; none opens a connection to anything):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    see iperf_common.py
  ports N                              print N free TCP ports on 127.0.0.1
  run RESULTS.jsonl IPERF.json ...     parse one iperf3 -J result and append one record to RESULTS.jsonl
  meta                                 print meta.json from the environment lib.sh's write_meta sets
  report RESULTS.jsonl META.json       print the markdown report
"""

import json
import os
import socket
import sys

# The helpers are run as scripts; this keeps the import working when the script's folder is not on sys.path
# (python3 -P, PYTHONSAFEPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_common as ic  # noqa: E402


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


def cmd_run(results, iperf_json, proxy, direction, rnd, sample_json, expected_remote_port, sessions):
    d, record = ic.new_record(iperf_json, proxy=proxy, dir=direction, round=int(rnd))
    if "error" not in record:
        connected = d["start"].get("connected", [])
        record["retransmits"] = d["end"].get("sum_sent", {}).get("retransmits")
        # The data socket's peer as iperf3 saw it: the proxy's port when proxychains routed it.
        record["data_peer_port"] = connected[0]["remote_port"] if connected else None
        record["expected_peer_port"] = int(expected_remote_port)
        record["sessions"] = int(sessions) if sessions != "-" else None
    if not ic.save_record(results, record, sample_json):
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


def cmd_meta():
    print(json.dumps(ic.meta_from_env()))


def cmd_report(results, meta_path):
    with open(meta_path) as f:
        meta = json.load(f)
    runs = ic.Runs([json.loads(line) for line in open(results) if line.strip()])
    order = meta["proxies"]

    out = ic.header(meta, "# Relay throughput: single TCP stream over loopback (iperf3 via proxychains4)",
                    "iperf3 client + server + proxy")
    out.append(f"- {meta['duration']} s per run, {meta['repeats']} round(s), each round visits every proxy in a rotated "
               f"order; throughput is the median over rounds, ratios are ratios of medians.")
    out.append("")
    out.extend(ic.summary_table_head("proxy", "microsocks", ["idle RSS MiB", "peak RSS MiB", "proxy CPU s/GB"]))
    for p in order:
        idle = meta["idle"].get(p)
        out.append(
            ic.summary_row_start(runs, p, "microsocks")
            + f"| {ic.mib(idle['rss_kb'] if idle else None)} | {ic.mib(runs.peak_rss(p))} "
            f"| {ic.f2(runs.per_gb(p, 'cpu_s'))} |")
    out.append("")
    out.append("fwd = client → server through the proxy (`iperf3 -c`); rev = server → client (`iperf3 -c -R`). "
               "RSS is VmRSS summed over the proxy's process tree: idle = after start, before any connection; "
               "peak = highest 100 ms sample during any run. CPU s/GB = proxy utime+stime per 10^9 bytes received "
               "by iperf3, both directions pooled.")
    out.append("")
    out.append("Idle memory in detail (PSS counts shared pages once, which matters for danted's many processes):")
    out.append("")
    out.extend(ic.IDLE_TABLE_HEAD)
    for p in order:
        idle = meta["idle"].get(p)
        if idle:
            out.append(ic.idle_row(p, idle["nprocs"], idle["rss_kb"], idle["pss_kb"]))
    out.append("")
    out.append("Every run (Gbit/s, proxy CPU seconds):")
    out.append("")
    out.extend(ic.rounds_table_head("proxy", meta["repeats"], "CPU s/GB"))
    for p in order:
        for d in ("fwd", "rev"):
            cells = []
            for i in range(meta["repeats"]):
                r = runs.find(p, d, i + 1)
                if r is None:
                    cells.append("–")
                elif "bps" not in r:
                    cells.append("error")
                else:
                    cell = f"{r['bps'] / 1e9:.2f}"
                    if "cpu_s" in r:
                        cell += f" ({r['cpu_s']:.1f} s)"
                    cells.append(cell)
            out.append(f"| {p} | {d} | " + " | ".join(cells) + f" | {ic.f2(runs.per_gb(p, 'cpu_s', d))} |")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"ports": cmd_ports, "run": cmd_run, "meta": cmd_meta, "report": cmd_report},
                     __doc__))
