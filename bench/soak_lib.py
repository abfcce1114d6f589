#!/usr/bin/env python3
"""Helpers of soak.sh: sample the daemons' fds, VmRSS and threads into a CSV, and write the report.

  soak_lib.py tree PID
  soak_lib.py sample OUT.csv STOPFILE INTERVAL_S MAX_SECONDS PHASEFILE NAME=PID...
  soak_lib.py report OUT.csv META.json RESULT.json > report.md
"""
import csv
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iperf_common as ic  # noqa: E402

# "Flat at the end": once the load has ended and the daemon has been idle SETTLE seconds, its sockets must be back at
# the idle level before any load (every connection closed means every socket closed), its descriptors in all no more
# than after warm-up (the splice relay keeps up to 256 empty pipes, 512 fds, in a pool it fills in the warm-up and
# reuses after), its threads no more than after warm-up (the thread pool grows under load and must not keep growing),
# and its RSS within RSS_MARGIN of the level after warm-up (the GC keeps what it grew to; a leak grows with every
# connection).
FD_SLACK = 8
THREAD_SLACK = 2
RSS_MARGIN = 0.25
RSS_SLACK_KB = 8 * 1024
KEYS = ("fds", "sockets", "pipes", "rss_kb", "threads")


def proc(pid):
    """fds, sockets, pipes, VmRSS (KiB), threads of PID; None when it is gone."""
    try:
        fds = sockets = pipes = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            fds += 1
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            sockets += target.startswith("socket:")
            pipes += target.startswith("pipe:")
        rss = ic.status_kb(pid, "VmRSS")
        threads = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    threads = int(line.split()[1])
        return fds, sockets, pipes, rss, threads
    except (FileNotFoundError, ProcessLookupError):
        return None


def cmd_sample(out, stopfile, interval, max_seconds, phasefile, *named):
    """One row every INTERVAL s (and one at the stop) until STOPFILE exists or MAX_SECONDS pass."""
    interval, max_seconds = float(interval), float(max_seconds)
    pids = [(n.split("=")[0], int(n.split("=")[1])) for n in named]
    t0 = time.monotonic()
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "phase"] + [f"{n}_{k}" for n, _ in pids for k in KEYS])
        while True:
            t = time.monotonic() - t0
            try:
                with open(phasefile) as p:
                    phase = p.read().strip()
            except FileNotFoundError:
                phase = ""
            row = [f"{t:.1f}", phase]
            for _, pid in pids:
                row += list(proc(pid) or ("",) * len(KEYS))
            w.writerow(row)
            f.flush()
            if os.path.exists(stopfile) or t >= max_seconds:
                return 0
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not os.path.exists(stopfile):
                time.sleep(0.2)


def load_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def cmd_report(csv_path, meta_path, result_path):
    rows = load_rows(csv_path)
    with open(meta_path) as f:
        meta = json.load(f)
    names = [c[: -len("_fds")] for c in rows[0].keys() if c.endswith("_fds")]

    def at(phase, last=False):
        rs = [r for r in rows if r["phase"] == phase]
        return (rs[-1] if last else rs[0]) if rs else None

    idle, warm, end = at("idle", last=True), at("warm", last=True), rows[-1]
    load_rows_ = [r for r in rows if r["phase"] in ("conns", "bulk")]
    mid = load_rows_[len(load_rows_) // 2] if load_rows_ else end

    def val(r, name, key):
        return int(r[f"{name}_{key}"]) if r and r[f"{name}_{key}"] != "" else None

    out = [f"# Soak: transparent path, {meta['conns']:,} connections and {meta['bytes'] / 1e9:.1f} GB", ""]
    out += [f"- {meta['date']}, build {meta['build']}", f"- host: {meta['kernel']}, {meta['cpu']} ({meta['nproc']} cores, shared)",
            f"- lab: client 198.51.100.2 → gateway (front daemon, TPROXY on tsb-cli; upstream: {meta['upstream']}) → target 203.0.113.2",
            f"- load: {meta['rounds']} rounds, each {meta['conns'] // meta['rounds']:,} short HTTP-like connections (loadgen rate, "
            f"concurrency {meta['conc']}) then {meta['bytes'] / meta['rounds'] / 1e9:.2f} GB of bulk (iperf3 -n, one stream, alternating direction)",
            f"- done: {meta['ok']:,} connections ok of {meta['started']:,} started ({meta['errors']} errors), "
            f"{meta['bulk_bytes'] / 1e9:.1f} GB relayed by iperf3; wall {meta['wall_s']} s; sampled every {meta['sample']} s ({len(rows)} samples)",
            f"- connection rate {meta['conns_per_s']:.0f}/s (median over rounds), bulk {meta['gbit']:.2f} Gbit/s (median over rounds)", ""]
    verdicts = {}
    for name in names:
        out += [f"## {name}", "", "| | idle (before load) | after warm-up | mid-load | end (idle {0} s after the load) |".format(meta["settle"]),
                "|---|---|---|---|---|"]
        for key, label in (("fds", "fds"), ("sockets", "of them sockets"), ("pipes", "of them pipes"), ("rss_kb", "VmRSS (MiB)"), ("threads", "threads")):
            cells = [val(r, name, key) for r in (idle, warm, mid, end)]
            shown = [("-" if c is None else (f"{c / 1024:.1f}" if key == "rss_kb" else str(c))) for c in cells]
            out.append(f"| {label} | " + " | ".join(shown) + " |")
        peak = {k: max((val(r, name, k) or 0) for r in rows) for k in ("fds", "rss_kb", "threads")}
        out += ["", f"Peak over the run: {peak['fds']} fds, {peak['rss_kb'] / 1024:.1f} MiB, {peak['threads']} threads."]
        i_s, w_f, w_rss, w_thr = val(idle, name, "sockets"), val(warm, name, "fds"), val(warm, name, "rss_kb"), val(warm, name, "threads")
        e_s, e_f, e_rss, e_thr = val(end, name, "sockets"), val(end, name, "fds"), val(end, name, "rss_kb"), val(end, name, "threads")
        checks = {
            "sockets": e_s is not None and i_s is not None and e_s <= i_s + FD_SLACK,
            "fds": e_f is not None and w_f is not None and e_f <= w_f + FD_SLACK,
            "threads": e_thr is not None and w_thr is not None and e_thr <= w_thr + THREAD_SLACK,
            "rss": e_rss is not None and w_rss is not None and e_rss <= w_rss * (1 + RSS_MARGIN) + RSS_SLACK_KB,
        }
        verdicts[name] = checks
        out += ["", "Flat at the end: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in checks.items())
                + f" (sockets ≤ idle + {FD_SLACK}; fds ≤ warm-up + {FD_SLACK}; threads ≤ warm-up + {THREAD_SLACK}; RSS ≤ warm-up × {1 + RSS_MARGIN:.2f} + {RSS_SLACK_KB // 1024} MiB)", ""]
    out += ["Samples: the CSV next to this report (`soak-latest.csv`): t_s, phase, and fds (sockets, pipes), VmRSS and threads of each daemon.", ""]
    print("\n".join(out))
    with open(result_path, "w") as f:
        json.dump({"meta": meta, "flat": verdicts}, f, indent=1)
    return 0 if all(all(v.values()) for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(ic.main(sys.argv, {"tree": ic.cmd_tree, "sample": cmd_sample, "report": cmd_report}, __doc__))
