#!/usr/bin/env python3
"""Helpers for udp.sh. The /proc helpers come from iperf_common.py, how busy the host is from
transparent_iperf_lib.py; this adds the UDP echo target, the flow holder, the checks of an iperf3 -u run and of a
flow phase, and the report (markdown and JSON).

Subcommands (all bounded in time and in count):
  tree PID / mem PID / sample PID OUT STOPFILE MAX_SECONDS    see iperf_common.py
  cpu PID / others ROOTPID / quiet MAX_PERCENT MAX_WAIT        see transparent_iperf_lib.py
  fds PID                         print how many fds PID has open
  echo IP PORT MAX_SECONDS        UDP echo: answer every datagram with "<sender's IP> " + the datagram, for at most
                                  MAX_SECONDS (the sender's IP is what the target saw, which the holder checks)
  flows IP PORT STEPS CONC BASE MAX_SECONDS
                                  from fresh sockets, one per flow (each its own source port), send one datagram to
                                  IP:PORT and wait for its echo, at most CONC flows waiting at once (a datagram is sent
                                  again after 1 s, 3 times at most); STEPS is "1000,10000": at each step it writes
                                  BASE.ready-STEP.json and waits (at most 120 s) for BASE.go-STEP before going on;
                                  after the last step it writes BASE.json and closes every socket
  run RESULTS.jsonl IPERF.json NAME RATE DIR ROUND SAMPLE.json|- EXPECTED_PEER PROXY_CPU_S UPSTREAM_CPU_S BUSY OTHERS
      ATTEMPT GW_RCVBUF_ERRORS
                                  parse one iperf3 -u -J --get-server-output result, check it, append a record
  flowrec RESULTS.jsonl BASE NAME ROUND EXPECTED_PEER TARGET
                                  check one flow phase (BASE.*), append its record
  meta                            print meta.json from the environment lib.sh's write_meta sets
  report RESULTS.jsonl META.json OUT.json   print the markdown report, write the JSON one
"""

import errno
import json
import os
import re
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_common as ic  # noqa: E402
import transparent_iperf_lib as til  # noqa: E402

C_PEERS = ("ipt2socks", "hev-socks5-tproxy")


def load(path):
    with open(path) as f:
        return json.load(f)


def dump(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)  # the script polls for the file: it must never see half of it


def append(results, record):
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")


def cmd_fds(pid):
    print(len(os.listdir(f"/proc/{int(pid)}/fd")))


# ---------------------------------------------------------------- the target and the load
def cmd_echo(ip, port, max_seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ip, int(port)))
    s.settimeout(1.0)
    deadline = time.monotonic() + float(max_seconds)
    while time.monotonic() < deadline:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        try:
            s.sendto(peer[0].encode() + b" " + data, peer)
        except OSError:
            pass
    return 0


def cmd_flows(ip, port, steps, conc, base, max_seconds):
    dst = (ip, int(port))
    steps = [int(x) for x in steps.split(",")]
    conc = int(conc)
    t_end = time.monotonic() + float(max_seconds)
    sel = selectors.DefaultSelector()
    socks = []              # every flow's socket, kept open until the end
    waiting = {}            # fd -> [sock, payload, sends, last_send]
    seen_by_target = {}     # the IP the target saw -> flows
    reply_from = {}         # the reply's source address -> flows
    stats = {"replied": 0, "failed": 0, "errors": {}}

    def note_error(what):
        stats["errors"][what] = stats["errors"].get(what, 0) + 1

    def send(entry):
        try:
            entry[0].sendto(entry[1], dst)
        except OSError as e:
            note_error(errno.errorcode.get(e.errno, str(e.errno)))
        entry[2] += 1
        entry[3] = time.monotonic()

    def pump(timeout):
        for key, _ in sel.select(timeout):
            entry = waiting.get(key.fd)
            if entry is None:
                continue
            try:
                data, src = entry[0].recvfrom(65535)
            except OSError as e:
                note_error(errno.errorcode.get(e.errno, str(e.errno)))
                continue
            who, _, payload = data.partition(b" ")
            if payload != entry[1]:
                note_error("wrong payload")
                continue
            seen_by_target[who.decode()] = seen_by_target.get(who.decode(), 0) + 1
            k = f"{src[0]}:{src[1]}"
            reply_from[k] = reply_from.get(k, 0) + 1
            stats["replied"] += 1
            sel.unregister(entry[0])
            del waiting[key.fd]
        now = time.monotonic()
        for fd, entry in list(waiting.items()):
            if now - entry[3] >= 1.0:
                if entry[2] >= 3:
                    stats["failed"] += 1
                    sel.unregister(entry[0])
                    del waiting[fd]
                else:
                    send(entry)

    t0 = time.monotonic()
    for step in steps:
        t_step = time.monotonic()
        while (len(socks) < step or waiting) and time.monotonic() < t_end:
            while len(socks) < step and len(waiting) < conc:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.bind(("0.0.0.0", 0))
                socks.append(s)
                entry = [s, f"flow {len(socks)}".encode(), 0, 0.0]
                waiting[s.fileno()] = entry
                sel.register(s, selectors.EVENT_READ)
                send(entry)
            pump(0.05)
        ready = {"step": step, "flows": len(socks), "replied": stats["replied"], "failed": stats["failed"],
                 "unanswered": len(waiting), "errors": dict(stats["errors"]), "seen_by_target": dict(seen_by_target),
                 "reply_from": dict(reply_from), "step_s": round(time.monotonic() - t_step, 3),
                 "setup_s": round(time.monotonic() - t0, 3)}
        dump(f"{base}.ready-{step}.json", ready)
        go_deadline = min(t_end, time.monotonic() + 120)
        while not os.path.exists(f"{base}.go-{step}") and time.monotonic() < go_deadline:
            time.sleep(0.05)
    for s in socks:
        s.close()
    dump(f"{base}.json", {"flows": len(socks), "replied": stats["replied"], "failed": stats["failed"]})
    return 0


# ---------------------------------------------------------------- one iperf3 -u run
def cmd_run(results, iperf_json, name, rate, direction, rnd, sample_json, expected_peer, proxy_cpu_s, upstream_cpu_s,
            busy, others, attempt, gw_rcvbuf):
    try:
        d = load(iperf_json)
    except (OSError, ValueError) as e:
        d = {"error": f"no iperf3 JSON ({e})"}
    rec = {"proxy": name, "rate": rate, "dir": direction, "round": int(rnd), "attempt": int(attempt),
           "host_busy_pct": float(busy), "others_cores": float(others), "gw_rcvbuf_errors": int(gw_rcvbuf)}
    if d.get("error"):
        rec["error"] = d["error"]
    else:
        s = d["end"]["sum"]
        # For UDP the client's end.sum carries what the receiving side counted: packets is the highest sequence
        # number the receiver saw (so it counts the sent ones up to the last that arrived), lost_packets the gaps.
        rec.update({"seconds": s["seconds"], "packets": s["packets"], "lost": s["lost_packets"],
                    "lost_pct": s["lost_percent"], "jitter_ms": s["jitter_ms"]})
        rec["received"] = rec["packets"] - rec["lost"]
        rec["pps"] = rec["received"] / rec["seconds"] if rec["seconds"] else 0.0
        rec["bytes_received"] = rec["received"] * d["start"]["test_start"]["blksize"]
        rec["mbps"] = 8 * rec["bytes_received"] / rec["seconds"] / 1e6 if rec["seconds"] else 0.0
        rec["sent_pps"] = d["end"].get("sum_sent", {}).get("packets", rec["packets"]) / rec["seconds"] \
            if rec["seconds"] else 0.0
        text = d.get("server_output_text") or ""
        ctl = re.search(r"Accepted connection from (\S+), port", text)
        data = re.search(r"\] local \S+ port \d+ connected to (\S+) port", text)
        rec["server_control_peer"] = ctl.group(1) if ctl else None
        rec["server_peer"] = data.group(1) if data else None
        rec["expected_peer"] = expected_peer
        if name != "direct":
            rec["proxy_cpu_s"] = float(proxy_cpu_s)
            rec["upstream_cpu_s"] = float(upstream_cpu_s)
    if sample_json != "-" and os.path.exists(sample_json):
        rec["peak_rss_kb"] = load(sample_json)["peak_rss_kb"]
    append(results, rec)
    if "error" in rec:
        print(f"  {name} {direction}: iperf3 error: {rec['error']}", file=sys.stderr)
        return 1
    line = (f"  {name:<18} -b {rate:<5} {direction} {rec['pps']:7.0f} pkt/s received ({rec['mbps']:.0f} Mbit/s), loss "
            f"{rec['lost_pct']:.1f} %")
    if "proxy_cpu_s" in rec and rec["received"]:
        line += (f"  proxy {1e6 * rec['proxy_cpu_s'] / rec['received']:.1f} µs/pkt"
                 f"  upstream {1e6 * rec['upstream_cpu_s'] / rec['received']:.1f} µs/pkt")
    line += f"  gw rcvbuf drops {rec['gw_rcvbuf_errors']}  server saw {rec['server_peer']}  others {rec['others_cores']:.2f} cores"
    print(line, file=sys.stderr)
    if rec["server_peer"] != expected_peer or rec["server_control_peer"] != expected_peer or rec["received"] <= 0:
        print(f"  {name} {direction}: NOT ROUTED as expected (server saw data {rec['server_peer']} control "
              f"{rec['server_control_peer']}, expected {expected_peer}; {rec['received']} datagrams received)",
              file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------- one flow phase
def cmd_flowrec(results, base, name, rnd, expected_peer, target):
    idle = load(f"{base}.idle.json")
    steps = load(f"{base}.steps.json")   # [{step, fds, rss_kb, pss_kb, upstream_fds, ready: {...}}]
    rec = {"kind": "flows", "proxy": name, "round": int(rnd), "idle_fds": idle["fds"], "idle_rss_kb": idle["rss_kb"],
           "idle_pss_kb": idle["pss_kb"], "nprocs": idle["nprocs"], "upstream_idle_fds": idle["upstream_fds"],
           "steps": steps}
    problems = []
    for st in steps:
        r = st["ready"]
        n = r["flows"]
        st["fds_per_1000"] = 1000 * (st["fds"] - idle["fds"]) / n if n else None
        st["kb_per_flow"] = (st["rss_kb"] - idle["rss_kb"]) / n if n else None
        st["upstream_fds_per_1000"] = 1000 * (st["upstream_fds"] - idle["upstream_fds"]) / n if n else None
        st["replied_pct"] = 100.0 * r["replied"] / n if n else 0.0
        print(f"  {name:<18} {n:6d} flows ({r['replied']} answered, {r['failed']} not, set up in {r['step_s']:.1f} s): "
              f"fds {idle['fds']} -> {st['fds']} = {st['fds_per_1000']:.0f} per 1000; RSS "
              f"{idle['rss_kb'] / 1024:.1f} -> {st['rss_kb'] / 1024:.1f} MiB = {st['kb_per_flow']:.2f} KB/flow; "
              f"upstream fds +{st['upstream_fds'] - idle['upstream_fds']}; target saw {r['seen_by_target']}",
              file=sys.stderr)
        if r["flows"] < st["step"]:
            problems.append(f"only {r['flows']} of {st['step']} flows were opened in time")
        if set(r["seen_by_target"]) - {expected_peer}:
            problems.append(f"the target saw datagrams from {r['seen_by_target']}, expected only {expected_peer}")
        if set(r["reply_from"]) - {target}:
            problems.append(f"replies came from {r['reply_from']}, expected all from {target}")
        if st["replied_pct"] < 99.0:   # a finding, not a failed check: the report shows it
            print(f"  {name} flows: note: only {r['replied']} of {n} flows answered", file=sys.stderr)
    append(results, rec)
    if problems:
        print(f"  {name} flows: NOT AS EXPECTED: {'; '.join(problems)}", file=sys.stderr)
        return 3
    return 0


def cmd_meta():
    e = os.environ
    busy = [float(x) for x in e["BUSY"].split()] or [0.0]
    meta = ic.meta_from_env()
    del meta["idle"]
    meta.update({"rates": e["RATES_S"].split(), "length": int(e["LEN_B"]), "steps": [int(x) for x in e["STEPS_S"].split(",")],
                 "steps_asked": [int(x) for x in e["STEPS_ASKED_S"].split(",")], "udp_timeout": int(e["UDP_TIMEOUT_S"]),
                 "flow_conc": int(e["FLOW_CONC_N"]), "upstream": e["UPSTREAM_S"], "upstreams": int(e["UPSTREAMS_N"]),
                 "nofile": int(e["NOFILE_N"]), "skipped": json.loads(e["SKIPPED"]), "peer_builds": e["PEER_BUILDS"],
                 "wall_s": int(e["WALL_S"]), "busy_median": statistics.median(busy), "busy_max": max(busy),
                 "max_others": float(e["MAX_OTHERS_C"]), "retries": int(e["RETRIES_N"]),
                 "quiet_pct": float(e["QUIET"].split()[0]), "quiet_wait": int(e["QUIET"].split()[1]),
                 "upstream_idle": json.loads(e["UPSTREAM_IDLE"])})
    print(json.dumps(meta))


# ---------------------------------------------------------------- the report
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize_iperf(runs, proxy, rate):
    out = {}
    for d in ("fwd", "rev"):
        rs = [r for r in runs if r["proxy"] == proxy and r["rate"] == rate and r["dir"] == d and "pps" in r]
        rec = sum(r["received"] for r in rs)
        proxied = proxy != "direct"
        out[d] = {"rounds": len(rs), "pps": med(r["pps"] for r in rs), "mbps": med(r["mbps"] for r in rs),
                  "sent_pps": med(r["sent_pps"] for r in rs), "lost_pct": med(r["lost_pct"] for r in rs),
                  "gw_rcvbuf_errors": med(r["gw_rcvbuf_errors"] for r in rs),
                  "proxy_us_per_pkt": 1e6 * sum(r.get("proxy_cpu_s", 0) for r in rs) / rec if rec and proxied else None,
                  "upstream_us_per_pkt": 1e6 * sum(r.get("upstream_cpu_s", 0) for r in rs) / rec
                  if rec and proxied else None,
                  "proxy_core_pct": med(100 * r["proxy_cpu_s"] / r["seconds"] for r in rs if "proxy_cpu_s" in r),
                  "upstream_core_pct": med(100 * r["upstream_cpu_s"] / r["seconds"] for r in rs
                                           if "upstream_cpu_s" in r),
                  "peak_rss_kb": max((r["peak_rss_kb"] for r in rs if "peak_rss_kb" in r), default=None)}
    return out


def summarize_flows(flows, proxy, big):
    fs = [f for f in flows if f["proxy"] == proxy]
    if not fs:
        return None

    def at(step, key):
        return med(st.get(key) for f in fs for st in f["steps"] if st["step"] == step)

    first = fs[0]["steps"][0]["step"]
    fl = {"idle_fds": med(f["idle_fds"] for f in fs), "idle_rss_kb": med(f["idle_rss_kb"] for f in fs),
          "idle_pss_kb": med(f["idle_pss_kb"] for f in fs), "nprocs": fs[0]["nprocs"], "first_step": first,
          "big_step": big, "fds_per_1000": at(first, "fds_per_1000"), "fds_per_1000_big": at(big, "fds_per_1000"),
          "rss_kb_big": at(big, "rss_kb"), "kb_per_flow_big": at(big, "kb_per_flow"),
          "kb_per_flow_first": at(first, "kb_per_flow"), "upstream_fds_per_1000": at(first, "upstream_fds_per_1000"),
          "replied_pct_big": at(big, "replied_pct"), "replied_pct_first": at(first, "replied_pct"),
          "setup_s_big": med(st["ready"]["step_s"] for f in fs for st in f["steps"] if st["step"] == big)}
    kb = fl["kb_per_flow_big"]
    fl["rss_kb_at_10000"] = fl["rss_kb_big"] if big == 10000 else (
        fl["idle_rss_kb"] + 10000 * kb if kb is not None else None)
    return fl


def cmd_report(results, meta_path, out_json):
    meta = load(meta_path)
    recs = [json.loads(line) for line in open(results) if line.strip()]
    flows = [r for r in recs if r.get("kind") == "flows"]
    attempts = [r for r in recs if r.get("kind") != "flows"]
    # A run that other work on the host disturbed was repeated; keep, per run, the attempt it disturbed least.
    best = {}
    for r in attempts:
        k = (r["proxy"], r["rate"], r["dir"], r["round"])
        if "pps" in r and (k not in best or r["others_cores"] < best[k]["others_cores"]):
            best[k] = r
    runs = list(best.values())
    order, rates, big = meta["proxies"], meta["rates"], meta["steps"][-1]
    summary = {p: {"iperf": {rt: summarize_iperf(runs, p, rt) for rt in rates},
                   "flows": summarize_flows(flows, p, big)} for p in order}

    def best_peer(get, want_max):
        c = [(get(p), p) for p in order if p in C_PEERS and get(p) is not None]
        return (max if want_max else min)(c) if c else (None, None)

    # (getter, higher is better) for every column that gets a ratio to the best peer
    keys = {}
    for rt in rates:
        for d in ("fwd", "rev"):
            keys[f"{rt}/{d}/pps"] = (lambda p, rt=rt, d=d: summary[p]["iperf"][rt][d]["pps"], True)
            keys[f"{rt}/{d}/us"] = (lambda p, rt=rt, d=d: summary[p]["iperf"][rt][d]["proxy_us_per_pkt"], False)
    for k in ("fds_per_1000", "idle_rss_kb", "kb_per_flow_big"):
        keys[k] = (lambda p, k=k: (summary[p]["flows"] or {}).get(k), False)
    bests = {k: best_peer(g, m) for k, (g, m) in keys.items()}
    for p in order:
        summary[p]["vs_best_peer"] = {k: ic.ratio(g(p), bests[k][0]) for k, (g, _) in keys.items()}
    f0 = lambda x: "–" if x is None else f"{x:.0f}"
    f1 = lambda x: "–" if x is None else f"{x:.1f}"
    f2, mib = ic.f2, ic.mib

    def vs(p, k):
        v, bp = bests[k]
        if bp is None or keys[k][0](p) is None:
            return "–"
        return "1.00 (best)" if p == bp else f2(summary[p]["vs_best_peer"][k])

    bname = lambda k: bests[k][1] or "no peer"
    others = [r["others_cores"] for r in runs] or [0.0]
    up = meta["upstream"]
    out = ic.header(
        meta, "# UDP through the transparent path (TPROXY → SOCKS5 UDP ASSOCIATE): packets/s, loss, fds and memory "
              "per flow",
        f"iperf3 client + server + front proxy + upstream, and by whatever else the host ran",
        [f"- other work on the host during the kept iperf3 runs: median {statistics.median(others):.2f}, max "
         f"{max(others):.2f} cores (CPU of user processes outside this benchmark); a run above "
         f"{meta['max_others']:.2f} cores was repeated up to {meta['retries']} times and the least disturbed "
         f"attempt kept ({len(attempts) - len(runs)} extra attempts in this report's run). Before each attempt the "
         f"script waited up to {meta['quiet_wait']} s for a second under {meta['quiet_pct']:.0f} % busy; the host "
         f"was, at the median, {f0(meta['busy_median'])} % busy."])
    out[-1] += f"; ipt2socks and hev-socks5-tproxy built from upstream commits {meta['peer_builds']}"
    out.append("- topology: client ns 198.51.100.2 → gateway ns (198.51.100.1 | 203.0.113.1, ip_forward=1, front "
               "proxy, upstream on 127.0.0.1:1081) → target ns 203.0.113.2 (`iperf3 -s`, and a UDP echo on port "
               "7777); one lab for the whole run, one front proxy at a time")
    out.append(f"- **upstream for every proxied figure: {up}**" + (
        f", {meta['upstreams']} instances behind one address (an nft `redirect` in the gateway's output hook sends "
        f"each new TCP connection to the next one), because one process may hold at most {meta['nofile']} fds here "
        f"and the upstream holds 3 per association" if meta["upstreams"] > 1 else "")
        + ". danted is not used: it forks, and a UDP association costs it far more than the front proxies.")
    out.append(f"- iperf3 -u: `-l {meta['length']}`, `-b` each of {', '.join(rates)} (0 = as fast as the sender "
               f"can), {meta['duration']} s per run, forward (client → target) and reverse (`-R`); "
               f"{meta['repeats']} round(s) in a rotated order; medians over rounds. iperf3's TCP control connection "
               f"goes through the proxy's TCP path too (nothing is bypassed); it carries a few hundred bytes per run.")
    lowered = "" if meta["steps"] == meta["steps_asked"] else (
        f" (asked for {', '.join(str(s) for s in meta['steps_asked'])}; lowered because one process may hold at most "
        f"{meta['nofile']} fds here and a front proxy holds 2 per flow)")
    out.append(f"- flows: fresh client sockets, one datagram each to the echo, answered; held open in steps of "
               f"{', '.join(str(s) for s in meta['steps'])} flows{lowered}, at most {meta['flow_conc']} waiting for "
               f"their answer at a time; fds and VmRSS of the front proxy read at each step; every proxy's UDP idle "
               f"timeout set to {meta['udp_timeout']} s. The whole run took {meta['wall_s'] // 60} min "
               f"{meta['wall_s'] % 60} s")
    if meta["skipped"]:
        out.append("- skipped: " + "; ".join(f"{p}: {why}" for p, why in meta["skipped"].items()))
    for rt in rates:
        out.append("")
        out.append(f"Throughput at `-b {rt}` (packets/s the receiver got, median over rounds):")
        out.append("")
        cols = ["contender"]
        for d in ("fwd", "rev"):
            cols += [f"{d} pkt/s", f"vs best peer ({bname(f'{rt}/{d}/pps')})", f"{d} Mbit/s", f"{d} loss %",
                     f"{d} sent pkt/s", f"{d} proxy µs/pkt", f"vs best peer ({bname(f'{rt}/{d}/us')})"]
        cols += ["proxy % core fwd / rev", "upstream µs/pkt fwd / rev", "gw rcvbuf drops fwd / rev", "peak RSS MiB"]
        out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
        for p in order:
            s = summary[p]["iperf"][rt]
            cells = [p]
            for d in ("fwd", "rev"):
                x = s[d]
                cells += [f0(x["pps"]), vs(p, f"{rt}/{d}/pps"), f0(x["mbps"]), f1(x["lost_pct"]), f0(x["sent_pps"]),
                          f2(x["proxy_us_per_pkt"]), vs(p, f"{rt}/{d}/us")]
            peak = [x for x in (s["fwd"]["peak_rss_kb"], s["rev"]["peak_rss_kb"]) if x is not None]
            cells += [f"{f0(s['fwd']['proxy_core_pct'])} / {f0(s['rev']['proxy_core_pct'])}",
                      f"{f2(s['fwd']['upstream_us_per_pkt'])} / {f2(s['rev']['upstream_us_per_pkt'])}",
                      f"{f0(s['fwd']['gw_rcvbuf_errors'])} / {f0(s['rev']['gw_rcvbuf_errors'])}",
                      mib(max(peak) if peak else None)]
            out.append("| " + " | ".join(cells) + " |")
    first = meta["steps"][0]
    out.append("")
    out.append(f"Flows (front proxy; idle = started, no flow yet):")
    out.append("")
    cols = ["contender", "processes", "idle fds", f"fds per 1,000 flows (at {first})",
            f"vs best peer ({bname('fds_per_1000')})", f"fds per 1,000 (at {big})", "idle RSS MiB",
            f"vs best peer ({bname('idle_rss_kb')})", f"RSS MiB with {big} flows", f"KB/flow (at {big})",
            f"vs best peer ({bname('kb_per_flow_big')})",
            "RSS MiB at 10,000 flows" + (" (extrapolated)" if big != 10000 else ""), f"answered % ({first} / {big})",
            f"set up s ({first}→{big})", "upstream fds per 1,000"]
    out += ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for p in order:
        fl = summary[p]["flows"]
        if not fl:
            continue
        out.append(f"| {p} | {fl['nprocs']} | {f0(fl['idle_fds'])} | {f0(fl['fds_per_1000'])} "
                   f"| {vs(p, 'fds_per_1000')} | {f0(fl['fds_per_1000_big'])} | {mib(fl['idle_rss_kb'])} "
                   f"| {vs(p, 'idle_rss_kb')} | {mib(fl['rss_kb_big'])} | {f2(fl['kb_per_flow_big'])} "
                   f"| {vs(p, 'kb_per_flow_big')} | {mib(fl['rss_kb_at_10000'])} "
                   f"| {f1(fl['replied_pct_first'])} / {f1(fl['replied_pct_big'])} | {f1(fl['setup_s_big'])} "
                   f"| {f0(fl['upstream_fds_per_1000'])} |")
    out.append("")
    out.append("- **pkt/s**: datagrams the receiving iperf3 counted (its `packets − lost_packets`) per second of the "
               "run. **sent pkt/s**: what the sending iperf3 sent. **loss %**: iperf3's `lost_percent` (gaps in the "
               "sequence numbers the receiver saw): datagrams that the sender's own socket, the gateway, the proxy or "
               "the upstream dropped all count. At `-b 0` the sender sends as fast as it can, so loss there says how "
               "far the chain is from keeping up with it, and pkt/s is the figure to compare.")
    out.append("- **proxy µs/pkt**: utime+stime of the front proxy (/proc/PID/stat, all threads) over the kept runs, "
               "divided by the datagrams received (so at `-b 0` it includes the work spent on datagrams dropped "
               "further on); **upstream µs/pkt**: the same for the upstream, which every proxied datagram also "
               "crosses. **% core**: CPU seconds / run seconds (100 = one core). **gw rcvbuf drops**: the gateway "
               "namespace's `Udp: RcvbufErrors` over the run (datagrams dropped at a full socket receive buffer of the "
               "front proxy or the upstream).")
    out.append("- **fds per 1,000 flows**: (fds with the flows held − idle fds) × 1000 / flows, from "
               "`/proc/PID/fd`. **KB/flow**: (VmRSS with the flows − idle VmRSS) / flows, user-space memory only "
               "(socket buffers are kernel memory). **RSS at 10,000 flows**: measured when the last step is 10,000, "
               "otherwise idle RSS + 10,000 × KB/flow. **answered %**: flows whose datagram came back. "
               "**vs best peer**: ratio to the best of ipt2socks and hev-socks5-tproxy in the column, named in the "
               "header (higher is better for pkt/s, lower for CPU, fds and memory).")
    out.append("")
    out.append("Every iperf3 run: pkt/s received, loss % (proxy µs/pkt) [cores used by other processes; ×N = N "
               "attempts]:")
    out.append("")
    out += [f"| contender | -b | dir | " + " | ".join(f"round {i + 1}" for i in range(meta["repeats"])) + " |",
            "|---|---|---|" + "---:|" * meta["repeats"]]
    for p in order:
        for rt in rates:
            for d in ("fwd", "rev"):
                cells = []
                for i in range(1, meta["repeats"] + 1):
                    r = best.get((p, rt, d, i))
                    if r is None:
                        cells.append("–")
                        continue
                    n = sum(1 for a in attempts if (a["proxy"], a["rate"], a["dir"], a["round"]) == (p, rt, d, i))
                    cell = f"{r['pps']:.0f}, {r['lost_pct']:.1f} %"
                    if "proxy_cpu_s" in r and r["received"]:
                        cell += f" ({1e6 * r['proxy_cpu_s'] / r['received']:.1f})"
                    cell += f" [{r['others_cores']:.2f}{f' ×{n}' if n > 1 else ''}]"
                    cells.append(cell)
                out.append(f"| {p} | {rt} | {d} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Checks passed on every run: the iperf3 server saw its control connection and its UDP data come from "
               "198.51.100.2 for `direct` and from 203.0.113.1 (the upstream's outside address) for the proxied runs. "
               "In the flow phases the echo saw every datagram come from 203.0.113.1, every answer reached the client "
               "from 203.0.113.2:7777 (the original destination), and every flow asked for was opened (how many were "
               "answered is in the flow table).")
    out.append("")
    print("\n".join(out))
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "summary": summary,
                   "best_peer": {k: {"proxy": p, "value": v} for k, (v, p) in bests.items()},
                   "flows": flows, "iperf_runs": runs, "iperf_attempts": attempts}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"cpu": til.cmd_cpu, "quiet": til.cmd_quiet, "others": til.cmd_others,
                                "fds": cmd_fds, "echo": cmd_echo, "flows": cmd_flows, "run": cmd_run,
                                "flowrec": cmd_flowrec, "meta": cmd_meta, "report": cmd_report}, __doc__))
