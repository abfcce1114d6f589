#!/usr/bin/env python3
"""Helpers for transparent-iperf.sh. The /proc helpers come from iperf_common.py; this adds how busy the host is,
the checks of a transparent run (who the iperf3 server saw, what the proxies logged) and the report.

Subcommands (all bounded in time; none opens a connection to anything):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    see iperf_common.py
  cpu PID                               print utime+stime (with reaped children) of PID's tree, in seconds
  others ROOTPID                        print "cpu_s monotonic_s": CPU of all user processes outside ROOTPID's tree
  busy SECONDS                          print how busy the host's CPUs were over SECONDS, in % of all cores
  quiet MAX_PERCENT MAX_WAIT            wait (up to MAX_WAIT s) until a 1 s window is below MAX_PERCENT busy;
                                        print the last reading
  run RESULTS.jsonl IPERF.json NAME DIR ROUND SAMPLE.json|- EXPECTED_PEER PROXY_SESSIONS|- DANTED_SESSIONS
      DANTED_CPU_S HOST_BUSY_PCT OTHERS_CORES ATTEMPT
                                        parse one iperf3 -J --get-server-output result, check it, append a record
  meta                                  print meta.json from the environment lib.sh's write_meta sets
  report RESULTS.jsonl META.json        print the markdown report
"""

import json
import os
import re
import statistics
import sys
import time

# The helpers are run as scripts; this keeps the import working when the script's folder is not on sys.path
# (python3 -P, PYTHONSAFEPATH).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_common as ic  # noqa: E402


def cpu_times():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]  # idle + iowait
    return sum(vals[:8]), idle  # user nice system idle iowait irq softirq steal (guest is inside user)


def busy_pct(seconds):
    t0, i0 = cpu_times()
    time.sleep(seconds)
    t1, i1 = cpu_times()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


PF_KTHREAD = 0x00200000


def others_cpu_s(root):
    """utime+stime+cutime+cstime of every user-space process outside ROOT's tree (kernel threads are left out).

    The delta of this sum over a window is the CPU that other work on the host used in it: a process that exits in
    the window moves its whole CPU time into its parent's cutime, so it is counted once, minus what it had at the start.
    """
    ours = set(ic.tree(int(root)))
    ours.add(os.getpid())
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in ours:
            continue
        fields = ic.stat_fields(name)
        try:
            if fields is None or int(fields[6]) & PF_KTHREAD:
                continue
            total += ic.stat_cpu_ticks(fields)
        except (IndexError, ValueError):
            pass
    return total / ic.CLK_TCK


def cmd_others(root):
    print(f"{others_cpu_s(root):.3f} {time.monotonic():.3f}")


def cmd_cpu(pid):
    print(f"{ic.tree_cpu_s(int(pid)):.3f}")


def cmd_busy(seconds):
    print(f"{busy_pct(float(seconds)):.0f}")


def cmd_quiet(max_pct, max_wait):
    deadline = time.monotonic() + float(max_wait)
    b = busy_pct(1.0)
    while b > float(max_pct) and time.monotonic() < deadline:
        b = busy_pct(1.0)
    print(f"{b:.0f}")


def cmd_run(results, iperf_json, name, direction, rnd, sample_json, expected_peer, proxy_sessions,
            danted_sessions, danted_cpu_s, host_busy, others_cores, attempt):
    d, record = ic.new_record(iperf_json, proxy=name, dir=direction, round=int(rnd), attempt=int(attempt),
                              host_busy_pct=float(host_busy), others_cores=float(others_cores))
    if "error" not in record:
        end = d["end"]
        record["seconds"] = end["sum_received"]["seconds"]
        record["retransmits"] = end.get("sum_sent", {}).get("retransmits")
        # The data connection's peer as the iperf3 server (in the target namespace) saw it: the client itself when
        # routed, the gateway's target-side address when a proxy (through danted) made the connection.
        # iperf3 3.12's server is not in JSON mode, so --get-server-output returns its text: "Accepted connection
        # from HOST, port N" (the control connection) and "[  5] local ... connected to HOST port N" (the data one).
        text = d.get("server_output_text") or ""
        ctl = re.search(r"Accepted connection from (\S+), port", text)
        data = re.search(r"\] local \S+ port \d+ connected to (\S+) port", text)
        record["server_control_peer"] = ctl.group(1) if ctl else None
        record["server_peer"] = data.group(1) if data else None
        record["expected_peer"] = expected_peer
        record["sessions"] = None if proxy_sessions == "-" else int(proxy_sessions)
        record["danted_sessions"] = int(danted_sessions)
        record["danted_cpu_s"] = float(danted_cpu_s)
    if not ic.save_record(results, record, sample_json):
        return 1
    line = f"  {name:<12} {direction:<3} {record['bps'] / 1e9:7.2f} Gbit/s  retr {record['retransmits']}"
    if "cpu_s" in record:
        line += (f"  proxy cpu {record['cpu_s']:.2f} s ({100 * record['cpu_s'] / record['seconds']:.0f} %)"
                 f"  peak rss {record['peak_rss_kb'] / 1024:.1f} MiB  sessions {record['sessions']}")
    line += (f"  danted cpu {record['danted_cpu_s']:.2f} s, connects {record['danted_sessions']}"
             f"  server saw {record['server_peer']}  others {record['others_cores']:.2f} cores")
    print(line, file=sys.stderr)
    proxied = name != "direct"
    ok = (record["server_peer"] == expected_peer and record["server_control_peer"] == expected_peer
          and record["danted_sessions"] == (2 if proxied else 0)
          and record["sessions"] in ((2,) if proxied else (None,)))
    if not ok:
        print(f"  {name} {direction}: NOT ROUTED as expected (server saw data {record['server_peer']} control "
              f"{record['server_control_peer']}, expected {expected_peer}; proxy sessions {record['sessions']}, "
              f"danted connects {record['danted_sessions']}, expected {2 if proxied else 0})", file=sys.stderr)
        return 3
    return 0


def cmd_meta():
    e = os.environ
    busy = [float(x) for x in e["BUSY"].split()]
    meta = ic.meta_from_env()
    meta.update({"danted_idle": json.loads(e["DANTED_IDLE"]), "mtu": int(e["MTU_B"]),
                 "busy_median": statistics.median(busy), "busy_max": max(busy),
                 "max_others": float(e["MAX_OTHERS_C"]), "retries": int(e["RETRIES_N"]),
                 "quiet_pct": float(e["QUIET"].split()[0]), "quiet_wait": int(e["QUIET"].split()[1])})
    print(json.dumps(meta))


def cmd_report(results, meta_path):
    with open(meta_path) as f:
        meta = json.load(f)
    attempts = [json.loads(line) for line in open(results) if line.strip()]
    order = meta["proxies"]
    # A run that other work on the host disturbed was repeated; keep, per run, the attempt it disturbed least.
    best = {}
    for r in attempts:
        key = (r["proxy"], r["dir"], r["round"])
        if "bps" in r and (key not in best or r["others_cores"] < best[key]["others_cores"]):
            best[key] = r
    runs = ic.Runs(list(best.values()))
    others = [r["others_cores"] for r in runs.runs]
    f2, mib = ic.f2, ic.mib

    def core_pct(proxy, key, direction):
        vals = [100 * r[key] / r["seconds"] for r in runs.ok(proxy, direction) if key in r and r.get("seconds")]
        return statistics.median(vals) if vals else None

    f0 = lambda x: "–" if x is None else f"{x:.0f}"

    out = ic.header(
        meta, "# Transparent path: single TCP stream through a gateway namespace (iperf3, TPROXY/REDIRECT → SOCKS5)",
        "iperf3 client + server + proxy + danted, and by whatever else the host ran",
        [f"- other work on the host during the kept runs: median {statistics.median(others):.2f}, max "
         f"{max(others):.2f} cores (CPU of user processes outside this benchmark); a run above "
         f"{meta['max_others']:.2f} cores was repeated up to {meta['retries']} times and the least disturbed "
         f"attempt kept ({len(attempts) - len(runs.runs)} extra attempts in this report's run). Before each attempt "
         f"the script waited up to {meta['quiet_wait']} s for a second in which the host was under "
         f"{meta['quiet_pct']:.0f} % busy; it was, at the median, {f0(meta.get('busy_median'))} % busy."])
    out.append(f"- topology: client ns 198.51.100.2 → gateway ns (198.51.100.1 | 203.0.113.1, ip_forward=1, proxy and "
               f"danted on 127.0.0.1) → target ns 203.0.113.2 (`iperf3 -s`); veth MTU {meta['mtu']}")
    out.append(f"- {meta['duration']} s per run, {meta['repeats']} round(s), each round visits every run in a rotated "
               f"order and starts/stops the proxy around its two runs; throughput is the median over rounds, ratios "
               f"are ratios of medians.")
    out.append("")
    out.extend(ic.summary_table_head("run", "redsocks", ["proxy CPU s/GB", "proxy % core fwd / rev", "idle RSS MiB",
                                                        "peak RSS MiB", "danted CPU s/GB"]))
    for p in order:
        idles = meta["idle"].get(p) or []
        cf, cr = core_pct(p, "cpu_s", "fwd"), core_pct(p, "cpu_s", "rev")
        out.append(
            ic.summary_row_start(runs, p, "redsocks")
            + f"| {f2(runs.per_gb(p, 'cpu_s'))} | {'–' if cf is None else f'{cf:.0f} / {cr:.0f}'} "
            f"| {mib(statistics.median(i['rss_kb'] for i in idles) if idles else None)} "
            f"| {mib(runs.peak_rss(p))} "
            f"| {f2(runs.per_gb(p, 'danted_cpu_s')) if p != 'direct' else '–'} |")
    out.append("")
    out.append("fwd = client → target (`iperf3 -c`); rev = target → client (`iperf3 -c -R`). Proxy CPU = utime+stime of "
               "the front proxy (transparentsocksd or redsocks) from /proc/PID/stat, delta over the run; s/GB pools both "
               "directions and divides by the 10^9 bytes iperf3 received; % core = CPU seconds / transfer seconds "
               "(median over rounds; 100 = one core). danted is the shared upstream SOCKS5 server every proxied run "
               "goes through; its CPU is shown for context. RSS = VmRSS of the front proxy: idle = after start, before "
               "any connection (median over its starts); peak = highest 100 ms sample during any of its runs.")
    out.append("")
    out.append("Idle memory in detail (PSS counts shared pages once):")
    out.append("")
    out.extend(ic.IDLE_TABLE_HEAD)
    for p in order:
        idles = meta["idle"].get(p) or []
        if idles:
            out.append(ic.idle_row(p, idles[0]["nprocs"], statistics.median(i["rss_kb"] for i in idles),
                                   statistics.median(i["pss_kb"] for i in idles)))
    if meta.get("danted_idle"):
        di = meta["danted_idle"]
        out.append(ic.idle_row("danted (shared upstream)", di["nprocs"], di["rss_kb"], di["pss_kb"]))
    out.append("")
    out.append("Every run: Gbit/s (proxy CPU s / danted CPU s) [cores used by other processes during the run; "
               "×N = N attempts]:")
    out.append("")
    out.extend(ic.rounds_table_head("run", meta["repeats"], "retransmits"))
    for p in order:
        for d in ("fwd", "rev"):
            cells, retr = [], []
            for i in range(meta["repeats"]):
                r = runs.find(p, d, i + 1)
                if r is None:
                    cells.append("–")
                    continue
                if "bps" not in r:
                    cells.append("error")
                    continue
                cell = f"{r['bps'] / 1e9:.2f}"
                if "cpu_s" in r:
                    cell += f" ({r['cpu_s']:.1f} / {r['danted_cpu_s']:.1f})"
                n = sum(1 for a in attempts if (a["proxy"], a["dir"], a["round"]) == (p, d, i + 1))
                cell += f" [{r['others_cores']:.2f}{f' ×{n}' if n > 1 else ''}]"
                cells.append(cell)
                retr.append(str(r.get("retransmits")))
            out.append(f"| {p} | {d} | " + " | ".join(cells) + f" | {', '.join(retr)} |")
    out.append("")
    out.append("Checks passed on every run: the iperf3 server saw its control and data connections come from "
               "198.51.100.2 for `direct` and from 203.0.113.1 (danted) for the proxied runs; danted logged exactly 2 new "
               "connects to 203.0.113.2 per proxied run and 0 per direct run; the front proxy logged exactly 2 new "
               "sessions to 203.0.113.2:5201. After each SIGTERM transparentsocksd's nft table and policy rules were gone.")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"cpu": cmd_cpu, "busy": cmd_busy, "quiet": cmd_quiet, "others": cmd_others,
                                "run": cmd_run, "meta": cmd_meta, "report": cmd_report}, __doc__))
