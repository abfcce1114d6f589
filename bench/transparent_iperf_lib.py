#!/usr/bin/env python3
"""Helpers for transparent-iperf.sh. The /proc helpers come from relay_iperf_lib.py; this adds the checks of a
transparent run (who the iperf3 server saw, what the proxies logged) and the report.

Subcommands (all bounded in time; none opens a connection to anything):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    as in relay_iperf_lib.py
  cpu PID                               print utime+stime (with reaped children) of PID's tree, in seconds
  others ROOTPID                        print "cpu_s monotonic_s": CPU of all user processes outside ROOTPID's tree
  busy SECONDS                          print how busy the host's CPUs were over SECONDS, in % of all cores
  quiet MAX_PERCENT MAX_WAIT            wait (up to MAX_WAIT s) until a 1 s window is below MAX_PERCENT busy;
                                        print the last reading
  run RESULTS.jsonl IPERF.json NAME DIR ROUND SAMPLE.json|- EXPECTED_PEER PROXY_SESSIONS|- DANTED_SESSIONS
      DANTED_CPU_S HOST_BUSY_PCT OTHERS_CORES ATTEMPT
                                        parse one iperf3 -J --get-server-output result, check it, append a record
  report RESULTS.jsonl META.json        print the markdown report
"""

import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relay_iperf_lib as rl  # noqa: E402



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
    ours = set(rl.tree(int(root)))
    ours.add(os.getpid())
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in ours:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[6]) & PF_KTHREAD:
                continue
            total += sum(int(x) for x in fields[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / rl.CLK_TCK


def cmd_others(root):
    print(f"{others_cpu_s(root):.3f} {time.monotonic():.3f}")


def cmd_cpu(pid):
    print(f"{rl.tree_cpu_s(int(pid)):.3f}")


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
    try:
        with open(iperf_json) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        d = {"error": f"no iperf3 JSON ({e})"}
    record = {"proxy": name, "dir": direction, "round": int(rnd), "attempt": int(attempt),
              "host_busy_pct": float(host_busy), "others_cores": float(others_cores)}
    if d.get("error"):
        record["error"] = d["error"]
    else:
        end = d["end"]
        record["bps"] = end["sum_received"]["bits_per_second"]
        record["bytes"] = end["sum_received"]["bytes"]
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
    if sample_json != "-" and os.path.exists(sample_json):
        with open(sample_json) as f:
            record.update(json.load(f))
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    if "error" in record:
        print(f"  {name} {direction}: iperf3 error: {record['error']}", file=sys.stderr)
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
    runs = list(best.values())
    others = [r["others_cores"] for r in runs]

    def ok_runs(proxy, direction=None):
        dirs = ("fwd", "rev") if direction is None else (direction,)
        return [r for r in runs if r["proxy"] == proxy and r["dir"] in dirs and "bps" in r]

    def med(proxy, direction, key="bps"):
        vals = [r[key] for r in ok_runs(proxy, direction) if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def ratio(a, b):
        return a / b if a is not None and b else None

    def per_gb(proxy, key, direction=None):
        rs = [r for r in ok_runs(proxy, direction) if key in r]
        gb = sum(r["bytes"] for r in rs) / 1e9
        return sum(r[key] for r in rs) / gb if rs and gb else None

    def core_pct(proxy, key, direction):
        vals = [100 * r[key] / r["seconds"] for r in ok_runs(proxy, direction) if key in r and r.get("seconds")]
        return statistics.median(vals) if vals else None

    f2 = lambda x: "–" if x is None else f"{x:.2f}"
    f0 = lambda x: "–" if x is None else f"{x:.0f}"
    gbit = lambda x: "–" if x is None else f"{x / 1e9:.2f}"
    mib = lambda kb: "–" if kb is None else f"{kb / 1024:.1f}"

    out = []
    out.append("# Transparent path: single TCP stream through a gateway namespace (iperf3, TPROXY/REDIRECT → SOCKS5)")
    out.append("")
    out.append(f"- date: {meta['date']}")
    out.append(f"- kernel: {meta['kernel']}")
    out.append(f"- cpu: {meta['cpu']} ({meta['nproc']} cores, shared by iperf3 client + server + proxy + danted, "
               f"and by whatever else the host ran)")
    out.append(f"- other work on the host during the kept runs: median {statistics.median(others):.2f}, max "
               f"{max(others):.2f} cores (CPU of user processes outside this benchmark); a run above "
               f"{meta['max_others']:.2f} cores was repeated up to {meta['retries']} times and the least disturbed "
               f"attempt kept ({len(attempts) - len(runs)} extra attempts in this report's run). Before each attempt the "
               f"script waited up to {meta['quiet_wait']} s for a second in which the host was under "
               f"{meta['quiet_pct']:.0f} % busy; it was, at the median, {f0(meta.get('busy_median'))} % busy.")
    out.append(f"- transparentsocksd: {meta['commit']}")
    out.append(f"- peers: {meta['versions']}")
    out.append(f"- topology: client ns 198.51.100.2 → gateway ns (198.51.100.1 | 203.0.113.1, ip_forward=1, proxy and "
               f"danted on 127.0.0.1) → target ns 203.0.113.2 (`iperf3 -s`); veth MTU {meta['mtu']}")
    out.append(f"- {meta['duration']} s per run, {meta['repeats']} round(s), each round visits every run in a rotated "
               f"order and starts/stops the proxy around its two runs; throughput is the median over rounds, ratios "
               f"are ratios of medians.")
    out.append("")
    out.append("| run | fwd Gbit/s | rev Gbit/s | fwd vs direct | rev vs direct | fwd vs redsocks | rev vs redsocks "
               "| proxy CPU s/GB | proxy % core fwd / rev | idle RSS MiB | peak RSS MiB | danted CPU s/GB |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in order:
        f_, r_ = med(p, "fwd"), med(p, "rev")
        idles = meta["idle"].get(p) or []
        peaks = [r["peak_rss_kb"] for r in runs if r["proxy"] == p and "peak_rss_kb" in r]
        cf, cr = core_pct(p, "cpu_s", "fwd"), core_pct(p, "cpu_s", "rev")
        out.append(
            f"| {p} | {gbit(f_)} | {gbit(r_)} "
            f"| {f2(ratio(f_, med('direct', 'fwd')))} | {f2(ratio(r_, med('direct', 'rev')))} "
            f"| {f2(ratio(f_, med('redsocks', 'fwd')))} | {f2(ratio(r_, med('redsocks', 'rev')))} "
            f"| {f2(per_gb(p, 'cpu_s'))} | {'–' if cf is None else f'{cf:.0f} / {cr:.0f}'} "
            f"| {mib(statistics.median(i['rss_kb'] for i in idles) if idles else None)} "
            f"| {mib(max(peaks) if peaks else None)} "
            f"| {f2(per_gb(p, 'danted_cpu_s')) if p != 'direct' else '–'} |")
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
    out.append("| proxy | processes | idle RSS MiB | idle PSS MiB |")
    out.append("|---|---:|---:|---:|")
    for p in order:
        idles = meta["idle"].get(p) or []
        if idles:
            out.append(f"| {p} | {idles[0]['nprocs']} | {mib(statistics.median(i['rss_kb'] for i in idles))} "
                       f"| {mib(statistics.median(i['pss_kb'] for i in idles))} |")
    if meta.get("danted_idle"):
        di = meta["danted_idle"]
        out.append(f"| danted (shared upstream) | {di['nprocs']} | {mib(di['rss_kb'])} | {mib(di['pss_kb'])} |")
    out.append("")
    out.append("Every run: Gbit/s (proxy CPU s / danted CPU s) [cores used by other processes during the run; "
               "×N = N attempts]:")
    out.append("")
    out.append("| run | dir | " + " | ".join(f"round {i + 1}" for i in range(meta["repeats"])) + " | retransmits |")
    out.append("|---|---|" + "---:|" * meta["repeats"] + "---:|")
    for p in order:
        for d in ("fwd", "rev"):
            cells, retr = [], []
            for i in range(meta["repeats"]):
                rs = [r for r in runs if r["proxy"] == p and r["dir"] == d and r["round"] == i + 1]
                if not rs:
                    cells.append("–")
                    continue
                r = rs[0]
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


def main(argv):
    commands = {"tree": rl.cmd_tree, "mem": rl.cmd_mem, "sample": rl.cmd_sample, "cpu": cmd_cpu, "busy": cmd_busy,
                "quiet": cmd_quiet, "others": cmd_others, "run": cmd_run, "report": cmd_report}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 64
    return commands[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
