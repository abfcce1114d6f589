#!/usr/bin/env python3
"""Helpers for conn-rate.sh. The /proc helpers come from iperf_common.py, how busy the host is from
transparent_iperf_lib.py; this adds reading the target server's counters, the checks of a hold phase and of a rate
run, and the report (markdown and JSON).

Subcommands (all bounded in time; none opens a connection to anything):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    see iperf_common.py
  cpu PID / others ROOTPID / quiet MAX_PERCENT MAX_WAIT        see transparent_iperf_lib.py
  snap SERVER_PID STATSFILE OUT          make loadgen serve write its counters (SIGUSR1), copy them to OUT
  drained SERVER_PID STATSFILE SECONDS   wait until the server has no connection open; exit 1 if it still has
  hold RESULTS.jsonl BASE NAME ROUND N EXPECTED_PEER
                                         check one hold phase (BASE-idle.json, BASE-hold.*), append its record
  rate RESULTS.jsonl BASE NAME ROUND ATTEMPT PROXY_CPU_S UPSTREAM_CPU_S HOST_BUSY_PCT OTHERS_CORES EXPECTED_PEER
                                         check one rate run (BASE.json, BASE.s0.json, BASE.s1.json), append its record
  meta                                   print meta.json from the environment lib.sh's write_meta sets
  report RESULTS.jsonl META.json OUT.json
                                         print the markdown report, write the JSON one
"""

import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_common as ic  # noqa: E402
import transparent_iperf_lib as til  # noqa: E402

C_PEERS = ("redsocks", "ipt2socks", "hev-socks5-tproxy")


def load(path):
    with open(path) as f:
        return json.load(f)


def read_stats(path):
    try:
        return load(path)
    except (OSError, ValueError):
        return None


def snap(pid, stats, timeout=5.0):
    """Signal the server and return its counters once it has written them (a higher sequence number)."""
    before = read_stats(stats)
    seq = before["seq"] if before else 0
    os.kill(int(pid), signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.02)
        s = read_stats(stats)
        if s and s["seq"] > seq:
            return s
    raise SystemExit(f"conn_rate_lib: the target server (pid {pid}) did not write its counters in {timeout} s")


def cmd_snap(pid, stats, out):
    s = snap(pid, stats)
    with open(out, "w") as f:
        json.dump(s, f)


def cmd_drained(pid, stats, seconds):
    deadline = time.monotonic() + float(seconds)
    while True:
        s = snap(pid, stats)
        if s["open"] == 0:
            return 0
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.2)


def peer_delta(s0, s1):
    """New connections per peer address between two counter snapshots of the server."""
    d = {}
    for ip, n in s1["peers"].items():
        k = n - s0["peers"].get(ip, 0)
        if k:
            d[ip] = k
    if s1["untracked_peers"] - s0["untracked_peers"]:
        d["untracked"] = s1["untracked_peers"] - s0["untracked_peers"]
    return d


def append(results, record):
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")


def cmd_hold(results, base, name, rnd, n, expected):
    n = int(n)
    idle = load(f"{base}-idle.json")
    h = f"{base}-hold"
    ready, mem, s0, s1 = load(f"{h}.ready.json"), load(f"{h}.mem.json"), load(f"{h}.s0.json"), load(f"{h}.s1.json")
    try:
        final = load(f"{h}.json")
    except (OSError, ValueError):
        final = {}
    held = ready["held"]
    peers = peer_delta(s0, s1)
    accepted = s1["accepted"] - s0["accepted"]
    rec = {"kind": "hold", "proxy": name, "round": int(rnd), "n": n, "held": held, "setup_s": ready["setup_s"],
           "setup_errors": ready["errors"], "setup_errors_total": ready["errors_total"],
           "dropped": final.get("dropped"), "idle_rss_kb": idle["rss_kb"], "idle_pss_kb": idle["pss_kb"],
           "nprocs": idle["nprocs"], "held_rss_kb": mem["rss_kb"], "held_pss_kb": mem["pss_kb"],
           "server_open": s1["open"], "server_accepted": accepted, "server_peers": peers, "expected_peer": expected}
    if name != "direct" and held:
        rec["kb_per_conn"] = (mem["rss_kb"] - idle["rss_kb"]) / held
    append(results, rec)
    line = (f"  {name:<18} hold: {held}/{n} idle connections set up in {ready['setup_s']:.2f} s, target saw "
            f"{peers}, {s1['open']} open")
    if "kb_per_conn" in rec:
        line += (f"; RSS {idle['rss_kb'] / 1024:.1f} -> {mem['rss_kb'] / 1024:.1f} MiB = "
                 f"{rec['kb_per_conn']:.2f} KB per idle connection")
    print(line, file=sys.stderr)
    problems = []
    if held == 0:
        problems.append("no idle connection was set up")
    if set(peers) != {expected} or peers[expected] != accepted:
        problems.append(f"the target saw connections from {peers}, expected all from {expected}")
    if s1["open"] < held or (ready["errors_total"] == 0 and s1["open"] != held):
        problems.append(f"{held} held at the client but {s1['open']} open at the target")
    if problems:
        print(f"  {name} hold: NOT AS EXPECTED: {'; '.join(problems)}", file=sys.stderr)
        return 3
    if held < n:
        print(f"  {name} hold: note: {n - held} of {n} idle connections failed ({ready['errors']})", file=sys.stderr)
    return 0


def cmd_rate(results, base, name, rnd, attempt, proxy_cpu, upstream_cpu, busy, others, expected):
    r, s0, s1 = load(f"{base}.json"), load(f"{base}.s0.json"), load(f"{base}.s1.json")
    peers = peer_delta(s0, s1)
    accepted = s1["accepted"] - s0["accepted"]
    served = s1["served"] - s0["served"]
    rec = {"kind": "rate", "proxy": name, "round": int(rnd), "attempt": int(attempt), "ok": r["ok"],
           "started": r["started"], "elapsed_s": r["elapsed_s"], "conns_per_s": r["conns_per_s"], "lat_us": r["lat_us"],
           "errors": r["errors"], "errors_total": r["errors_total"], "server_accepted": accepted,
           "server_served": served, "server_peers": peers, "expected_peer": expected,
           "host_busy_pct": float(busy), "others_cores": float(others)}
    if name != "direct":
        rec["proxy_cpu_s"] = float(proxy_cpu)
        rec["upstream_cpu_s"] = float(upstream_cpu)
        sample = f"{base}.sample.json"
        if os.path.exists(sample):
            rec["peak_rss_kb"] = load(sample)["peak_rss_kb"]
    append(results, rec)
    ok = r["ok"]
    line = (f"  {name:<18} rate: {r['conns_per_s']:8.0f} conns/s  p50 {r['lat_us']['p50'] / 1000:.2f} ms  "
            f"p99 {r['lat_us']['p99'] / 1000:.2f} ms  errors {r['errors_total']}")
    if name != "direct" and ok:
        line += (f"  proxy {1e6 * float(proxy_cpu) / ok:.0f} µs/conn  upstream {1e6 * float(upstream_cpu) / ok:.0f} µs/conn")
    line += f"  target saw {peers}  others {float(others):.2f} cores"
    print(line, file=sys.stderr)
    problems = []
    if ok == 0:
        problems.append("no connection completed")
    if peers and (set(peers) != {expected} or peers[expected] != accepted):
        problems.append(f"the target saw connections from {peers}, expected all from {expected}")
    if accepted < ok or served < ok:
        problems.append(f"{ok} completed at the client but the target accepted {accepted} and answered {served}")
    if problems:
        print(f"  {name} rate: NOT AS EXPECTED: {'; '.join(problems)}", file=sys.stderr)
        return 3
    if r["errors_total"]:
        print(f"  {name} rate: note: {r['errors_total']} connections failed ({r['errors']})", file=sys.stderr)
    return 0


def cmd_meta():
    e = os.environ
    busy = [float(x) for x in e["BUSY"].split()]
    meta = ic.meta_from_env()
    del meta["idle"]
    meta.update({"concurrency": int(e["CONC"]), "max_conns": int(e["MAXC"]), "idle_conns": int(e["IDLE_N"]),
                 "skipped": json.loads(e["SKIPPED"]), "peer_builds": e["PEER_BUILDS"], "wall_s": int(e["WALL_S"]),
                 "loadgen_sha256_12": e["LOADGEN_SHA"], "busy_median": statistics.median(busy),
                 "busy_max": max(busy), "max_others": float(e["MAX_OTHERS_C"]), "retries": int(e["RETRIES_N"]),
                 "quiet_pct": float(e["QUIET"].split()[0]), "quiet_wait": int(e["QUIET"].split()[1])})
    print(json.dumps(meta))


# ---------------------------------------------------------------- the report
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(holds, rates, proxy):
    hs = [h for h in holds if h["proxy"] == proxy]
    rs = [r for r in rates if r["proxy"] == proxy]
    ok = sum(r["ok"] for r in rs)
    s = {"rounds": len(rs),
         "conns_per_s": med(r["conns_per_s"] for r in rs),
         "p50_ms": med(r["lat_us"]["p50"] / 1000 for r in rs),
         "p99_ms": med(r["lat_us"]["p99"] / 1000 for r in rs),
         "max_ms": max((r["lat_us"]["max"] / 1000 for r in rs), default=None),
         "conns_ok": ok,
         "errors": sum(r["errors_total"] for r in rs),
         "hold_n": hs[0]["n"] if hs else None,
         "held_min": min((h["held"] for h in hs), default=None),
         "hold_errors": sum(h["setup_errors_total"] for h in hs)}
    if proxy != "direct":
        s.update({
            "proxy_cpu_us_per_conn": 1e6 * sum(r["proxy_cpu_s"] for r in rs) / ok if ok else None,
            "danted_cpu_us_per_conn": 1e6 * sum(r["upstream_cpu_s"] for r in rs) / ok if ok else None,
            "peak_rss_kb": max((r.get("peak_rss_kb", 0) for r in rs), default=None),
            "nprocs": hs[0]["nprocs"] if hs else None,
            "idle_rss_kb": med(h["idle_rss_kb"] for h in hs),
            "idle_pss_kb": med(h["idle_pss_kb"] for h in hs),
            "held_rss_kb": med(h["held_rss_kb"] for h in hs),
            "kb_per_idle_conn": med(h.get("kb_per_conn") for h in hs)})
    return s


def best_peer(summary, key, want_max):
    cands = [(v[key], p) for p, v in summary.items() if p in C_PEERS and v.get(key) is not None]
    if not cands:
        return None, None
    v, p = (max if want_max else min)(cands)
    return p, v


def cmd_report(results, meta_path, out_json):
    meta = load(meta_path)
    recs = [json.loads(line) for line in open(results) if line.strip()]
    holds = [r for r in recs if r["kind"] == "hold"]
    attempts = [r for r in recs if r["kind"] == "rate"]
    # A run that other work on the host disturbed was repeated; keep, per run, the attempt it disturbed least.
    best = {}
    for r in attempts:
        k = (r["proxy"], r["round"])
        if k not in best or r["others_cores"] < best[k]["others_cores"]:
            best[k] = r
    rates = list(best.values())
    order = meta["proxies"]
    summary = {p: summarize(holds, rates, p) for p in order}
    bests = {"conns_per_s": best_peer(summary, "conns_per_s", True),
             "proxy_cpu_us_per_conn": best_peer(summary, "proxy_cpu_us_per_conn", False),
             "idle_rss_kb": best_peer(summary, "idle_rss_kb", False),
             "kb_per_idle_conn": best_peer(summary, "kb_per_idle_conn", False)}
    for p, s in summary.items():
        for k, (bp, bv) in bests.items():
            s[f"{k}_vs_best_peer"] = ic.ratio(s.get(k), bv) if bp else None
    others = [r["others_cores"] for r in rates]

    f0 = lambda x: "–" if x is None else f"{x:.0f}"
    f1 = lambda x: "–" if x is None else f"{x:.1f}"
    f2 = ic.f2
    mib = ic.mib
    vs = lambda p, k: "–" if p == bests[k][0] or summary[p].get(f"{k}_vs_best_peer") is None \
        else f2(summary[p][f"{k}_vs_best_peer"])
    vs_best = lambda p, k: "1.00 (best)" if p == bests[k][0] else vs(p, k)
    bname = lambda k: bests[k][0] or "no peer"

    out = ic.header(
        meta, "# Connection rate and memory of the transparent path (TPROXY/REDIRECT → SOCKS5, short and idle "
              "connections)",
        "loadgen client + target server + proxy + danted, and by whatever else the host ran",
        [f"- other work on the host during the kept rate runs: median {statistics.median(others):.2f}, max "
         f"{max(others):.2f} cores (CPU of user processes outside this benchmark); a rate run above "
         f"{meta['max_others']:.2f} cores was repeated up to {meta['retries']} times and the least disturbed attempt "
         f"kept ({len(attempts) - len(rates)} extra attempts in this report's run). Before each attempt the script "
         f"waited up to {meta['quiet_wait']} s for a second in which the host was under {meta['quiet_pct']:.0f} % "
         f"busy; it was, at the median, {f0(meta['busy_median'])} % busy."])
    out[-1] += f"; ipt2socks and hev-socks5-tproxy built from upstream commits {meta['peer_builds']}"
    out.append(f"- topology: client ns 198.51.100.2 → gateway ns (198.51.100.1 | 203.0.113.1, ip_forward=1, proxy and "
               f"danted on 127.0.0.1) → target ns 203.0.113.2 (`loadgen serve`, port 80); fresh namespaces, danted "
               f"and target server for every contender in every round")
    out.append(f"- per contender and round: {meta['idle_conns']} idle connections held end to end, then "
               f"{meta['duration']} s (at most {meta['max_conns']} connections) of short connections, "
               f"{meta['concurrency']} in flight; {meta['repeats']} round(s) in a rotated order; figures are medians "
               f"over rounds; the whole run took {meta['wall_s'] // 60} min {meta['wall_s'] % 60} s")
    if meta["skipped"]:
        out.append("- skipped: " + "; ".join(f"{p}: {why}" for p, why in meta["skipped"].items()))
    out.append("")
    out.append("Short connections (connect, `GET`, 2-byte response, close):")
    out.append("")
    cols = ["contender", "conns/s", f"vs best peer ({bname('conns_per_s')})", "p50 ms", "p99 ms", "max ms", "errors",
            "proxy CPU µs/conn", f"vs best peer ({bname('proxy_cpu_us_per_conn')})", "danted CPU µs/conn",
            "peak RSS MiB"]
    out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for p in order:
        s = summary[p]
        out.append(f"| {p} | {f0(s['conns_per_s'])} | {vs_best(p, 'conns_per_s')} | {f2(s['p50_ms'])} "
                   f"| {f2(s['p99_ms'])} | {f1(s['max_ms'])} | {s['errors']} of {s['conns_ok'] + s['errors']} "
                   f"| {f0(s.get('proxy_cpu_us_per_conn'))} | {vs_best(p, 'proxy_cpu_us_per_conn')} "
                   f"| {f0(s.get('danted_cpu_us_per_conn'))} | {mib(s.get('peak_rss_kb'))} |")
    out.append("")
    out.append(f"Memory (VmRSS of the proxy; idle = started, nothing connected; held = with {meta['idle_conns']} idle "
               f"connections open end to end):")
    out.append("")
    cols = ["contender", "processes", "idle RSS MiB", f"vs best peer ({bname('idle_rss_kb')})", "idle PSS MiB",
            "held RSS MiB", "KB/idle conn", f"vs best peer ({bname('kb_per_idle_conn')})", "held / asked"]
    out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for p in order:
        s = summary[p]
        if p == "direct":
            continue
        out.append(f"| {p} | {s['nprocs']} | {mib(s['idle_rss_kb'])} | {vs_best(p, 'idle_rss_kb')} "
                   f"| {mib(s['idle_pss_kb'])} | {mib(s['held_rss_kb'])} | {f2(s['kb_per_idle_conn'])} "
                   f"| {vs_best(p, 'kb_per_idle_conn')} | {s['held_min']} / {s['hold_n']} |")
    out.append("")
    out.append("- **conns/s**: connections that completed (full response, then the close) per second of the run, "
               "median over rounds. **p50/p99 ms**: from just before `connect()` to the last byte of the response, "
               "the median over rounds of each round's percentile; **max** is the largest over all rounds. "
               "**errors**: failed connections (refused, reset, 5 s timeout, short response) of all attempted in "
               "the kept runs.")
    out.append("- **proxy CPU µs/conn**: utime+stime of the front proxy (/proc/PID/stat, all threads) over the kept "
               "runs, divided by their completed connections. **danted CPU µs/conn**: the same for the shared "
               "upstream, for context. **peak RSS**: highest 100 ms VmRSS sample during the short-connection runs.")
    out.append("- **KB/idle conn**: (held RSS − idle RSS) / idle connections held, median over rounds; user-space "
               "memory only (socket buffers and splice pipes are kernel memory). **vs best peer**: the ratio to "
               "the best of the C tools (redsocks, ipt2socks, hev-socks5-tproxy) in the column, whose name is in the "
               "header: higher is better for conns/s, lower is better for CPU and memory.")
    out.append("")
    out.append("Every round: conns/s (proxy CPU µs/conn) [cores used by other processes; ×N = N attempts]; "
               "KB/idle conn:")
    out.append("")
    out += [f"| contender | " + " | ".join(f"round {i + 1}" for i in range(meta["repeats"])) + " |",
            "|---|" + "---:|" * meta["repeats"]]
    for p in order:
        cells = []
        for i in range(1, meta["repeats"] + 1):
            r = best.get((p, i))
            h = next((h for h in holds if h["proxy"] == p and h["round"] == i), None)
            if r is None:
                cells.append("–")
                continue
            n = sum(1 for a in attempts if (a["proxy"], a["round"]) == (p, i))
            cell = f"{r['conns_per_s']:.0f}"
            if "proxy_cpu_s" in r and r["ok"]:
                cell += f" ({1e6 * r['proxy_cpu_s'] / r['ok']:.0f})"
            cell += f" [{r['others_cores']:.2f}{f' ×{n}' if n > 1 else ''}]"
            if h and "kb_per_conn" in h:
                cell += f"; {h['kb_per_conn']:.2f}"
            cells.append(cell)
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Checks passed on every run: the target server saw every connection of the hold phase and of the "
               "short-connection run come from 203.0.113.1 (danted's address) for the proxied contenders and from "
               "198.51.100.2 for `direct`; it accepted and answered at least as many connections as the client "
               "completed; every held idle connection was open at the target while the memory was read. Errors are "
               "counted in the tables, not hidden.")
    out.append("")
    print("\n".join(out))
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "summary": summary,
                   "best_peer": {k: {"proxy": p, "value": v} for k, (p, v) in bests.items()},
                   "holds": holds, "rate_runs": rates, "rate_attempts": attempts}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"cpu": til.cmd_cpu, "quiet": til.cmd_quiet, "others": til.cmd_others,
                                "snap": cmd_snap, "drained": cmd_drained, "hold": cmd_hold, "rate": cmd_rate,
                                "meta": cmd_meta, "report": cmd_report}, __doc__))
