#!/usr/bin/env python3
"""Helpers for bench.sh (`make bench`). The /proc helpers come from iperf_common.py, the host's load from
transparent_iperf_lib.py, the target server's counters and the short-connection run from conn_rate_lib.py; this adds
the records of the idle, iperf3 and hold phases with their checks, and the report (markdown and JSON).

Subcommands (all bounded in time; none opens a connection to anything):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    see iperf_common.py
  cpu PID / others ROOTPID / quiet MAX_PERCENT MAX_WAIT        see transparent_iperf_lib.py
  snap SERVER_PID STATSFILE OUT / drained SERVER_PID STATSFILE SECONDS / rate ...   see conn_rate_lib.py
  fds PID                 print the open fds of PID and its descendants
  idle RESULTS.jsonl IDLE.json NAME ROUND
                          append the idle record
  iperf RESULTS.jsonl IPERF.json NAME ROUND STREAMS SAMPLE.json|- EXPECTED_PEER PROXY_CPU_S UPSTREAM_CPU_S OTHERS_CORES
                          check one iperf3 -J --get-server-output run (who the server saw), append its record
  hold RESULTS.jsonl BASE NAME ROUND IDLE_FDS NOFILE EXPECTED_PEER "LEVELS ASKED" LEVEL...
                          check one hold phase (BASE.s0.json, BASE-LEVEL.json), append its record
  meta                    print meta.json from the environment lib.sh's write_meta sets
  report RESULTS.jsonl META.json OUT.json
                          print the markdown report, write the JSON one
"""

import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conn_rate_lib as crl  # noqa: E402
import iperf_common as ic  # noqa: E402
import transparent_iperf_lib as til  # noqa: E402

C_PEERS = crl.C_PEERS
TS = ("ts-tproxy", "ts-redirect", "ts-pooled")
load, append, med = crl.load, crl.append, crl.med


def cmd_fds(pid):
    n = 0
    for p in ic.tree(int(pid)):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    print(n)


def cmd_idle(results, idle_json, name, rnd):
    append(results, {"kind": "idle", "proxy": name, "round": int(rnd), **load(idle_json)})


def cmd_iperf(results, iperf_json, name, rnd, streams, sample, expected, proxy_cpu, upstream_cpu, others):
    streams = int(streams)
    d, rec = ic.new_record(iperf_json, kind="iperf", proxy=name, round=int(rnd), streams=streams,
                           others_cores=float(others), expected_peer=expected)
    if "bps" in rec:
        rec["seconds"] = d["end"]["sum_received"]["seconds"]
        rec["retransmits"] = d["end"].get("sum_sent", {}).get("retransmits")
        # iperf3 3.12's server is not in JSON mode, so --get-server-output is its text: "Accepted connection from
        # HOST" (the control connection), then "[  N] local ... connected to HOST port P" per data stream.
        text = d.get("server_output_text") or ""
        rec["server_control_peer"] = (re.findall(r"Accepted connection from (\S+), port", text) or [None])[0]
        rec["server_data_peers"] = re.findall(r"\] local \S+ port \d+ connected to (\S+) port", text)
        if name != "direct":
            rec["proxy_cpu_s"] = float(proxy_cpu)
            rec["upstream_cpu_s"] = float(upstream_cpu)
    if not ic.save_record(results, rec, sample):
        return 1
    line = f"  {name:<18} iperf3 -P {streams}: {rec['bps'] / 1e9:6.2f} Gbit/s"
    if "proxy_cpu_s" in rec:
        line += (f"  proxy {100 * rec['proxy_cpu_s'] / rec['seconds']:.0f} % core"
                 f"  upstream {100 * rec['upstream_cpu_s'] / rec['seconds']:.0f} %")
    print(line + f"  server saw {sorted(set(rec['server_data_peers']))}  others {float(others):.2f} cores",
          file=sys.stderr)
    if rec["server_control_peer"] != expected or rec["server_data_peers"] != [expected] * streams:
        print(f"  {name} iperf3 -P {streams}: NOT ROUTED as expected (control from {rec['server_control_peer']}, "
              f"data from {rec['server_data_peers']}, expected {streams} from {expected})", file=sys.stderr)
        return 3
    return 0


def cmd_hold(results, base, name, rnd, idle_fds, nofile, expected, asked, *levels):
    s0 = load(f"{base}.s0.json")
    idle_fds = int(idle_fds)
    out, held, problems = [], 0, []
    for level in levels:
        m = load(f"{base}-{level}.json")
        s1 = load(f"{base}-{level}.snap.json")
        held += sum(r["held"] for r in m["ready"])
        peers = crl.peer_delta(s0, s1)
        accepted = s1["accepted"] - s0["accepted"]
        m.update({"held": held, "setup_errors": sum(r["errors_total"] for r in m["ready"]),
                  "setup_s": sum(r["setup_s"] for r in m["ready"]), "server_open": s1["open"],
                  "server_peers": peers})
        del m["ready"]
        out.append(m)
        if held == 0:
            problems.append(f"level {level}: no idle connection was set up")
        if set(peers) != {expected} or peers[expected] != accepted:
            problems.append(f"level {level}: the target saw connections from {peers}, expected all from {expected}")
        if s1["open"] < held:
            problems.append(f"level {level}: {held} held at the client but {s1['open']} open at the target")
    rec = {"kind": "hold", "proxy": name, "round": int(rnd), "idle_fds": idle_fds, "nofile": int(nofile),
           "levels_asked": [int(x) for x in asked.split()], "levels": out}
    a, b = out[0], out[-1]
    if len(out) > 1 and b["held"] > a["held"]:
        rec["kb_per_conn"] = (b["rss_kb"] - a["rss_kb"]) / (b["held"] - a["held"])
        rec["fds_per_conn"] = (b["fds"] - a["fds"]) / (b["held"] - a["held"])
    elif a["held"]:
        rec["fds_per_conn"] = (a["fds"] - idle_fds) / a["held"]
    append(results, rec)
    for m in out:
        print(f"  {name:<18} hold {m['level']}: {m['held']} held in {m['setup_s']:.2f} s, RSS "
              f"{m['rss_kb'] / 1024:.1f} MiB, {m['fds']} fds, setup {1e6 * m['setup_cpu_s'] / max(1, m['level']):.0f} "
              f"µs/conn CPU, target saw {m['server_peers']}, {m['server_open']} open", file=sys.stderr)
    if "kb_per_conn" in rec:
        print(f"  {name:<18} hold: {rec['kb_per_conn']:.2f} KB and {rec['fds_per_conn']:.2f} fds per idle "
              f"connection (slope)", file=sys.stderr)
    if problems:
        print(f"  {name} hold: NOT AS EXPECTED: {'; '.join(problems)}", file=sys.stderr)
        return 3
    return 0


def cmd_meta():
    e = os.environ
    meta = ic.meta_from_env()
    del meta["idle"]
    meta.update({"upstream": e["UPSTREAM_S"], "upstream_desc": e["UPSTREAM_DESC"],
                 "streams": [int(x) for x in e["STREAMS_S"].split()], "rate_s": int(e["RATE_S"]),
                 "concurrency": int(e["CONC"]), "max_conns": int(e["MAXC"]),
                 "levels_asked": [int(x) for x in e["LEVELS_S"].split()], "hold_rounds": int(e["HOLD_ROUNDS_N"]),
                 "nofile": int(e["NOFILE_N"]), "nofile_start": e["NOFILE_START_S"],
                 "skipped": json.loads(e["SKIPPED"]), "peer_builds": e["PEER_BUILDS"],
                 "load_before": e["LOAD_BEFORE_S"], "load_after": e["LOAD_AFTER_S"], "build_s": int(e["BUILD_S"]),
                 "wall_s": int(e["WALL_S"]), "total_s": int(e["TOTAL_S"]), "probe": json.loads(e["PROBE"]),
                 "loadgen_sha256_12": e["LOADGEN_SHA"]})
    print(json.dumps(meta))


# ---------------------------------------------------------------- the report
def summarize(recs, p, streams):
    idles = [r for r in recs if r["kind"] == "idle" and r["proxy"] == p]
    rates = [r for r in recs if r["kind"] == "rate" and r["proxy"] == p]
    holds = [r for r in recs if r["kind"] == "hold" and r["proxy"] == p]
    # The short-connection figures as conn-rate.sh's report has them; its hold figures are not this script's.
    s = {k: v for k, v in crl.summarize([], rates, p).items() if not k.startswith(("hold", "held", "idle", "kb_"))}
    if "danted_cpu_us_per_conn" in s:
        s["upstream_cpu_us_per_conn"] = s.pop("danted_cpu_us_per_conn")
    s["rate_peak_rss_kb"] = s.pop("peak_rss_kb", None)
    for n in streams:
        runs = [r for r in recs if r["kind"] == "iperf" and r["proxy"] == p and r["streams"] == n and "bps" in r]
        s[f"gbps_{n}"] = med(r["bps"] / 1e9 for r in runs)
        s[f"retransmits_{n}"] = med(r.get("retransmits") for r in runs)
        if p != "direct" and runs:
            gb = sum(r["bytes"] for r in runs) / 1e9
            s[f"cpu_s_per_gb_{n}"] = sum(r["proxy_cpu_s"] for r in runs) / gb if gb else None
            s[f"upstream_cpu_s_per_gb_{n}"] = sum(r["upstream_cpu_s"] for r in runs) / gb if gb else None
            s[f"cpu_pct_{n}"] = med(100 * r["proxy_cpu_s"] / r["seconds"] for r in runs)
            # % of a core per Gbit/s: the same cost as s/GB (x 12.5), in the units of the issue.
            s[f"cpu_pct_per_gbit_{n}"] = med(100 * r["proxy_cpu_s"] / r["seconds"] / (r["bps"] / 1e9) for r in runs)
            s[f"peak_rss_kb_{n}"] = max((r.get("peak_rss_kb", 0) for r in runs), default=None)
    if p != "direct":
        s.update({
            "idle_rss_kb": med(r["rss_kb"] for r in idles), "idle_pss_kb": med(r["pss_kb"] for r in idles),
            "idle_fds": med(r["fds"] for r in idles), "nprocs": idles[0]["nprocs"] if idles else None})
        if holds:
            h = holds[0]   # the first round's; with HOLD_ROUNDS > 1 the slope is the median over rounds
            s["hold_levels"] = h["levels"]
            s["hold_levels_asked"] = h["levels_asked"]
            s["kb_per_idle_conn"] = med(x.get("kb_per_conn") for x in holds)
            s["fds_per_idle_conn"] = med(x.get("fds_per_conn") for x in holds)
            a = h["levels"][0]
            if s["kb_per_idle_conn"] is not None:
                # A straight line through the measured levels, past what could be held: an extrapolation only.
                s["extrapolated_rss_kb"] = {str(n): a["rss_kb"] + s["kb_per_idle_conn"] * (n - a["held"])
                                            for n in (10000, 100000)}
                s["extrapolated_fds"] = {str(n): round(a["fds"] + s["fds_per_idle_conn"] * (n - a["held"]))
                                         for n in (10000, 100000)}
    return s


def glance(summary, order, streams, f2, mib):
    """The one table: what issue 9 compares, a row per contender."""
    f0 = lambda x: "–" if x is None else f"{x:,.0f}"
    n1, nk = streams[0], streams[-1]
    cols = ["contender", f"-P {n1} Gbit/s", f"-P {nk} Gbit/s", f"proxy CPU s/GB (-P {n1})", "conns/s",
            "p50 / p99 ms", "idle RSS MiB", "KB/idle conn", "held"]
    out = ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for p in order:
        s = summary[p]
        c = s.get(f"cpu_s_per_gb_{n1}")
        levels = s.get("hold_levels") or []
        out.append(f"| {p} | {f2(s.get(f'gbps_{n1}'))} | {f2(s.get(f'gbps_{nk}'))} "
                   f"| {'–' if c is None else f'{c:.3f}'} | {f0(s.get('conns_per_s'))} "
                   f"| {f2(s.get('p50_ms'))} / {f2(s.get('p99_ms'))} | {mib(s.get('idle_rss_kb'))} "
                   f"| {f2(s.get('kb_per_idle_conn'))} | {f0(levels[-1]['held']) if levels else '–'} |")
    return out


def cmd_report(results, meta_path, out_json):
    meta = load(meta_path)
    recs = [json.loads(line) for line in open(results) if line.strip()]
    order, streams = meta["proxies"], meta["streams"]
    summary = {p: summarize(recs, p, streams) for p in order}
    metrics = {"conns_per_s": True, "p50_ms": False, "p99_ms": False, "proxy_cpu_us_per_conn": False,
               "idle_rss_kb": False, "kb_per_idle_conn": False}
    for n in streams:
        metrics.update({f"gbps_{n}": True, f"cpu_s_per_gb_{n}": False})
    bests = {k: crl.best_peer(summary, k, up) for k, up in metrics.items()}
    for p, s in summary.items():
        for k, (bp, bv) in bests.items():
            s[f"{k}_vs_best_peer"] = ic.ratio(s.get(k), bv) if bp else None
        for n in streams:
            s[f"gbps_{n}_vs_direct"] = ic.ratio(s.get(f"gbps_{n}"), summary.get("direct", {}).get(f"gbps_{n}"))

    f0 = lambda x: "–" if x is None else f"{x:,.0f}"
    f1 = lambda x: "–" if x is None else f"{x:.1f}"
    f2, mib = ic.f2, ic.mib
    f3 = lambda x: "–" if x is None else f"{x:.3f}"

    def vs(p, k):
        if bests[k][0] is None or summary[p].get(f"{k}_vs_best_peer") is None:
            return "–"
        return "1.00 (best)" if p == bests[k][0] else f2(summary[p][f"{k}_vs_best_peer"])

    bname = lambda k: bests[k][0] or "no C peer"
    others = [r["others_cores"] for r in recs if "others_cores" in r]
    probe = meta.get("probe")

    out = [f"# make bench: the transparent path, every contender in one run", "",
           f"- date: {meta['date']}; the run took {meta['total_s'] // 60} min {meta['total_s'] % 60} s in all "
           f"(build and install {meta['build_s']} s, measurements {meta['wall_s']} s)",
           f"- machine: {meta['cpu']}, {meta['nproc']} cores (shared by the load client, the target servers, the "
           f"proxy, the upstream, and whatever else the host ran); kernel {meta['kernel']}",
           f"- load average before / after: {meta['load_before']} / {meta['load_after']}; CPU of other processes "
           f"during the measurements: median {statistics.median(others) if others else 0:.2f}, max "
           f"{max(others) if others else 0:.2f} cores (per run in the last table)",
           f"- transparentsocksd: {meta['commit']}",
           f"- peers: {meta['versions']}; ipt2socks and hev-socks5-tproxy built from upstream commits "
           f"{meta['peer_builds'] or '(not built)'}",
           f"- upstream SOCKS5 server in the gateway, shared by every proxied contender: {meta['upstream_desc']}",
           f"- topology: client ns 198.51.100.2 → gateway ns (198.51.100.1 | 203.0.113.1, ip_forward=1, the proxy and "
           f"the upstream on 127.0.0.1) → target ns 203.0.113.2 (`iperf3 -s`, `loadgen serve` on port 80); fresh "
           f"namespaces, upstream and target servers for every contender in every round",
           f"- {meta['repeats']} round(s) in a rotated order, figures are medians over rounds: iperf3 "
           f"{' and '.join(f'-P {n}' for n in streams)} for {meta['duration']} s each (client → target), "
           f"{meta['rate_s']} s of short connections at {meta['concurrency']} in flight; idle connections held in "
           f"{meta['hold_rounds']} round(s) only (once per contender, to stay within 15 minutes)"]
    if meta["skipped"]:
        out.append("- skipped: " + "; ".join(f"{p}: {why}" for p, why in meta["skipped"].items()))
    out.append(f"- best peer = the best of the C tools ({', '.join(C_PEERS)}) in that column, named in its header; "
               f"v2ray is shown with its ratio but never counts as the best peer")
    capped = [p for p in order if any(r["kind"] == "rate" and r["proxy"] == p and r["started"] >= meta["max_conns"]
                                      for r in recs)]
    if capped:
        out.append(f"- {', '.join(capped)} reached MAX_CONNS ({meta['max_conns']:,} connections) before "
                   f"{meta['rate_s']} s were up: its conns/s is over the shorter run")
    out.append("")
    out.append("At a glance (medians; details and ratios below):")
    out.append("")
    out += glance(summary, order, streams, f2, mib)
    out.append("")

    for n in streams:
        k_g, k_c = f"gbps_{n}", f"cpu_s_per_gb_{n}"
        out.append(f"## Throughput, iperf3 -P {n} ({n} stream{'s' if n > 1 else ''})")
        out.append("")
        cols = ["contender", "Gbit/s", "vs direct", f"vs best peer ({bname(k_g)})", "proxy % core",
                "proxy CPU s/GB", "proxy % core per Gbit/s", f"CPU vs best peer ({bname(k_c)})",
                "upstream CPU s/GB", "retransmits"]
        out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
        for p in order:
            s = summary[p]
            out.append(f"| {p} | {f2(s.get(k_g))} | {f2(s.get(f'{k_g}_vs_direct'))} | {vs(p, k_g)} "
                       f"| {f0(s.get(f'cpu_pct_{n}'))} | {f3(s.get(k_c))} | {f2(s.get(f'cpu_pct_per_gbit_{n}'))} "
                       f"| {vs(p, k_c)} | {f3(s.get(f'upstream_cpu_s_per_gb_{n}'))} "
                       f"| {f0(s.get(f'retransmits_{n}'))} |")
        out.append("")

    out.append(f"## Short connections ({meta['concurrency']} in flight, {meta['rate_s']} s)")
    out.append("")
    cols = ["contender", "conns/s", f"vs best peer ({bname('conns_per_s')})", "vs ipt2socks", "p50 ms", "p99 ms",
            "max ms", "errors", "proxy CPU µs/conn", f"vs best peer ({bname('proxy_cpu_us_per_conn')})",
            "upstream CPU µs/conn", "peak RSS MiB"]
    out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    i2s = summary.get("ipt2socks", {}).get("conns_per_s")
    for p in order:
        s = summary[p]
        out.append(f"| {p} | {f0(s['conns_per_s'])} | {vs(p, 'conns_per_s')} | {f2(ic.ratio(s['conns_per_s'], i2s))} "
                   f"| {f2(s['p50_ms'])} | {f2(s['p99_ms'])} | {f1(s['max_ms'])} "
                   f"| {s['errors']} of {s['conns_ok'] + s['errors']} | {f0(s.get('proxy_cpu_us_per_conn'))} "
                   f"| {vs(p, 'proxy_cpu_us_per_conn')} | {f0(s.get('upstream_cpu_us_per_conn'))} "
                   f"| {mib(s.get('rate_peak_rss_kb'))} |")
    out.append("")

    nofile = meta["nofile"]
    out.append("## Memory: idle, and with idle connections held end to end")
    out.append("")
    cols = ["contender", "processes", "idle RSS MiB", f"vs best peer ({bname('idle_rss_kb')})", "idle PSS MiB",
            "idle fds", "held: connections → RSS MiB, fds, setup CPU µs/conn, idle CPU % core",
            "KB/idle conn (slope)", f"vs best peer ({bname('kb_per_idle_conn')})", "fds/idle conn",
            "RSS at 10k / 100k MiB, extrapolated", "fds at 100k, extrapolated"]
    out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for p in order:
        s = summary[p]
        if p == "direct":
            continue
        held = "; ".join(f"{m['held']:,} → {mib(m['rss_kb'])}, {m['fds']:,}, "
                         f"{1e6 * m['setup_cpu_s'] / max(1, m['level']):.0f}, "
                         f"{100 * m['idle_cpu_s'] / m['idle_window_s']:.1f}" for m in s.get("hold_levels", []))
        ex, exf = s.get("extrapolated_rss_kb"), s.get("extrapolated_fds")
        out.append(f"| {p} | {s['nprocs']} | {mib(s['idle_rss_kb'])} | {vs(p, 'idle_rss_kb')} "
                   f"| {mib(s['idle_pss_kb'])} | {f0(s['idle_fds'])} | {held or '–'} | {f2(s.get('kb_per_idle_conn'))} "
                   f"| {vs(p, 'kb_per_idle_conn')} | {f2(s.get('fds_per_idle_conn'))} "
                   f"| {'–' if not ex else mib(ex['10000']) + ' / ' + mib(ex['100000'])} "
                   f"| {'–' if not exf else f0(exf['100000'])} |")
    if probe:
        out.append(f"| ts-tproxy + server on (idle only) | {probe['nprocs']} | {mib(probe['rss_kb'])} | – "
                   f"| {mib(probe['pss_kb'])} | – | – | – | – | – | – | – |")
    out.append("")
    asked = meta["levels_asked"]
    too_big = [n for n in asked if n > (nofile - 1000) // 2]
    out.append(f"**The fd limit.** RLIMIT_NOFILE here is {nofile:,} per process (hard limit "
               f"{meta['nofile_start']} at start; raising it to 1,048,576 "
               f"{'worked' if nofile >= 1048576 else 'was refused: no CAP_SYS_RESOURCE'}). A connection held end to "
               f"end costs the proxy at least 2 fds (the client's socket and the upstream's), more where it keeps "
               f"pipes, so one proxy process can hold at most about {(nofile - 1000) // 2:,} of them."
               + (f" **{' and '.join(f'{n:,}' for n in too_big)} idle connections cannot be held on this machine**; "
                  f"each contender was held at {asked[0]:,} and at the largest level that fit its own fds per "
                  f"connection (the held column). The 10k and 100k RSS and the 100k fds are a straight line through "
                  f"the measured levels: **a linear extrapolation, not a measurement**." if too_big else ""))
    out.append("")
    out.append("- **Gbit/s**: iperf3's `end.sum_received`, the median over rounds; **vs direct** the ratio to plain "
               "routing in the same run. **proxy % core**: utime+stime of the front proxy's process tree "
               "(/proc/PID/stat) over the run / its seconds (100 = one core); **s/GB** the CPU seconds over all "
               "rounds / the 10^9 bytes received; **% core per Gbit/s** = % core / Gbit/s (12.5 × s/GB). The "
               "upstream's CPU is the same figure for the upstream server(s), for context.")
    out.append("- **conns/s**: connections completed (connect, `GET`, 2-byte response, close) per second; **p50/p99** "
               "from just before `connect()` to the last byte of the response, the median over rounds of each "
               "round's percentile; **max** the largest over all rounds. **proxy CPU µs/conn**: the proxy's CPU over "
               "the runs / their connections.")
    out.append("- **RSS**: VmRSS summed over the proxy's processes; idle = 1 s after start, nothing connected. **held**: "
               "at each level the connections held (each made one keep-alive request, then stays idle), the RSS and "
               "fds once the proxy has been left quiet for SETTLE s (4), the CPU the proxy spent setting them up per connection, and the CPU it used over 1 s while "
               "they were idle. **KB/idle conn**: the slope of RSS between the first and the last level (user-space "
               "memory only: socket buffers and pipes are kernel memory).")
    out.append("")

    out += targets(summary, meta, bests, probe)

    out.append("## Every round")
    out.append("")
    out.append("Per round: " + " / ".join(f"-P {n} Gbit/s" for n in streams) + " / conns/s [cores other processes "
               "used during the short connections]:")
    out.append("")
    out += ["| contender | " + " | ".join(f"round {i + 1}" for i in range(meta["repeats"])) + " |",
            "|---|" + "---:|" * meta["repeats"]]
    for p in order:
        cells = []
        for i in range(1, meta["repeats"] + 1):
            ip = {r["streams"]: r for r in recs if r["kind"] == "iperf" and r["proxy"] == p and r["round"] == i}
            rr = next((r for r in recs if r["kind"] == "rate" and r["proxy"] == p and r["round"] == i), None)
            cell = " / ".join(f"{ip[n]['bps'] / 1e9:.2f}" if n in ip and "bps" in ip[n] else "–" for n in streams)
            cell += f" / {rr['conns_per_s']:,.0f} [{rr['others_cores']:.2f}]" if rr else " / –"
            cells.append(cell)
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Checks passed on every run: the iperf3 server saw its control connection and every data stream come "
               "from 203.0.113.1 (the upstream's address) for the proxied contenders and from 198.51.100.2 for "
               "`direct`; the target HTTP server saw every short and every held connection come from the same "
               "address, accepted and answered at least as many as the client completed, and had every held "
               "connection open while the memory was read. Errors are counted in the tables, not hidden.")
    out.append("")
    print("\n".join(out))
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "summary": summary,
                   "best_peer": {k: {"proxy": p, "value": v} for k, (p, v) in bests.items()},
                   "records": recs}, f, indent=1)
        f.write("\n")


def targets(summary, meta, bests, probe):
    """The targets of issue 9, each met or not, with its figures."""
    f2, mib = ic.f2, ic.mib
    ts = [p for p in TS if p in summary]
    rows = []

    def row(target, p, figure, met):
        verdict = met if isinstance(met, str) else "–" if met is None else "**met**" if met else "not met"
        rows.append(f"| {target} | {p} | {figure} | {verdict} |")

    i2s = summary.get("ipt2socks")
    for p in ts:
        s = summary[p]
        if not i2s or i2s.get("conns_per_s") is None:
            row("conns/s ≥ 1.2× ipt2socks, p50 and p99 ≤ ipt2socks'", p, "ipt2socks not measured", None)
            continue
        r = ic.ratio(s["conns_per_s"], i2s["conns_per_s"])
        row("conns/s ≥ 1.2× ipt2socks, p50 and p99 ≤ ipt2socks'", p,
            f"{s['conns_per_s']:,.0f} vs {i2s['conns_per_s']:,.0f} = {f2(r)}×; p50 {f2(s['p50_ms'])} vs "
            f"{f2(i2s['p50_ms'])} ms; p99 {f2(s['p99_ms'])} vs {f2(i2s['p99_ms'])} ms",
            r >= 1.2 and s["p50_ms"] <= i2s["p50_ms"] and s["p99_ms"] <= i2s["p99_ms"])
    for n in meta["streams"]:
        k = f"cpu_s_per_gb_{n}"
        bp, bv = bests[k]
        for p in ts:
            v = summary[p].get(k)
            r = ic.ratio(v, bv)
            row(f"proxy CPU per Gbit ≤ 0.6× the best C peer (-P {n})", p,
                "no C peer measured" if bp is None else
                f"{v:.3f} vs {bp}'s {bv:.3f} s/GB = {f2(r)}×", None if r is None else r <= 0.6)
    d1 = summary.get("direct", {}).get("gbps_1")
    for p in ts:
        r = ic.ratio(summary[p].get("gbps_1"), d1)
        row("1 stream ≥ 0.7× direct", p, f"{f2(summary[p].get('gbps_1'))} vs {f2(d1)} Gbit/s = {f2(r)}×",
            None if r is None else r >= 0.7)
    if probe:
        row("idle RSS ≤ 8 MiB, transparent path and server on", "ts-tproxy + server",
            f"{mib(probe['rss_kb'])} MiB", probe["rss_kb"] <= 8192)
    for p in ts:
        row("idle RSS ≤ 8 MiB (transparent path only)", p, f"{mib(summary[p].get('idle_rss_kb'))} MiB",
            None if summary[p].get("idle_rss_kb") is None else summary[p]["idle_rss_kb"] <= 8192)
    for p in ts:
        v = summary[p].get("kb_per_idle_conn")
        levels = summary[p].get("hold_levels") or []
        row("≤ 1 KB per idle connection", p,
            f"{f2(v)} KB (slope {levels[0]['held']:,} → {levels[-1]['held']:,})" if levels and v is not None
            else "not measured", None if v is None else v <= 1.0)
    nofile = meta["nofile"]
    for p in ts:
        levels = summary[p].get("hold_levels") or []
        top = max((m["held"] for m in levels), default=0)
        ex = summary[p].get("extrapolated_rss_kb")
        row("100,000 idle connections held, RSS linear", p,
            f"held at most {top:,}: RLIMIT_NOFILE is {nofile:,} per process and cannot be raised here"
            + (f"; linear extrapolation (not measured): {mib(ex['100000'])} MiB at 100k" if ex else ""),
            True if top >= 100000 else (False if nofile >= 200000 else "not measurable here"))
    return ["## Targets of issue 9", "",
            f"Measured in this run; the upstream: {meta['upstream_desc']}. '–' = cannot be decided from this run "
            "(the figures say why).", "",
            "| target | contender | figures | verdict |", "|---|---|---|---|", *rows, ""]


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"cpu": til.cmd_cpu, "quiet": til.cmd_quiet, "others": til.cmd_others,
                                "snap": crl.cmd_snap, "drained": crl.cmd_drained, "rate": crl.cmd_rate,
                                "fds": cmd_fds, "idle": cmd_idle, "iperf": cmd_iperf, "hold": cmd_hold,
                                "meta": cmd_meta, "report": cmd_report}, __doc__))
