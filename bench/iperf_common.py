"""What relay_iperf_lib.py and transparent_iperf_lib.py share: /proc readings of a process tree and the subcommands
built on them, turning one iperf3 -J result into a record, the report's metadata and the parts of the report that
both print the same way. Not run on its own: each helper's main() passes its own subcommands to main() here.

Subcommands every helper has (all bounded in time; none opens a connection to anything):
  tree PID                             print PID and its descendants
  mem PID                              print "rss_kb pss_kb nprocs" summed over PID and its descendants
  sample PID OUT STOPFILE MAX_SECONDS  sample the tree's RSS every 100 ms until STOPFILE exists (or MAX_SECONDS);
                                       write {"peak_rss_kb", "cpu_s"} (CPU = utime+stime delta over the window) to OUT
"""

import json
import os
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


def stat_fields(pid):
    """/proc/PID/stat from the state on (fields[0] is field 3), or None once the process is gone.

    The split is after the last ")", because the command name in parentheses may itself hold spaces and ")".
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def stat_cpu_ticks(fields):
    # utime, stime, cutime, cstime are fields 14-17. The reaped children's share (cutime, cstime) keeps the sum
    # steady when a worker process exits mid-run (danted's children do).
    return sum(int(x) for x in fields[11:15])


def cpu_ticks(pid):
    fields = stat_fields(pid)
    try:
        return stat_cpu_ticks(fields) if fields else 0
    except ValueError:
        return 0


def tree_rss(pid):
    return sum(status_kb(p, "VmRSS") for p in tree(pid))


def tree_cpu_s(pid):
    return sum(cpu_ticks(p) for p in tree(pid)) / CLK_TCK


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


COMMANDS = {"tree": cmd_tree, "mem": cmd_mem, "sample": cmd_sample}


def main(argv, commands, doc):
    """Run the subcommand argv[1], from COMMANDS or the helper's own commands; the exit status is its return value."""
    commands = {**COMMANDS, **commands}
    if len(argv) < 2 or argv[1] not in commands:
        print(doc, file=sys.stderr)
        return 64
    return commands[argv[1]](*argv[2:]) or 0


# ---------------------------------------------------------------- one run
def new_record(iperf_json, **fields):
    """(iperf3's JSON, a record of FIELDS plus what was received or the error).

    A run that wrote no JSON (iperf3 crashed, or timeout killed it) becomes an error record, so that the run is still
    written down before the script stops.
    """
    try:
        with open(iperf_json) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        d = {"error": f"no iperf3 JSON ({e})"}
    record = dict(fields)
    if d.get("error"):
        record["error"] = d["error"]
    else:
        received = d["end"]["sum_received"]
        record["bps"] = received["bits_per_second"]
        record["bytes"] = received["bytes"]
    return d, record


def save_record(results, record, sample_json):
    """Add the sampler's figures to RECORD and append it to RESULTS; False (after saying why) for a failed run."""
    if sample_json != "-" and os.path.exists(sample_json):
        with open(sample_json) as f:
            record.update(json.load(f))
    with open(results, "a") as f:
        f.write(json.dumps(record) + "\n")
    if "error" in record:
        print(f"  {record['proxy']} {record['dir']}: iperf3 error: {record['error']}", file=sys.stderr)
        return False
    return True


def meta_from_env():
    """The report's metadata that lib.sh's write_meta passes to every helper; each adds its own."""
    e = os.environ
    return {"kernel": e["KERNEL"], "cpu": e["CPU"], "date": e["DATE"], "commit": e["COMMIT"],
            "versions": e["VERSIONS"], "idle": json.loads(e["IDLE"]), "nproc": int(e["NPROC"]),
            "duration": int(e["DURATION_S"]), "repeats": int(e["REPEATS_N"]), "proxies": e["PROXY_LIST"].split()}


# ---------------------------------------------------------------- the report
def f2(x):
    return "–" if x is None else f"{x:.2f}"


def gbit(bps):
    return "–" if bps is None else f"{bps / 1e9:.2f}"


def mib(kb):
    return "–" if kb is None else f"{kb / 1024:.1f}"


def ratio(a, b):
    return a / b if a is not None and b else None


class Runs:
    """The records a report is made of, one per (proxy, dir, round)."""

    def __init__(self, runs):
        self.runs = runs

    def ok(self, proxy, direction=None):
        dirs = ("fwd", "rev") if direction is None else (direction,)
        return [r for r in self.runs if r["proxy"] == proxy and r["dir"] in dirs and "bps" in r]

    def median(self, proxy, direction, key="bps"):
        vals = [r[key] for r in self.ok(proxy, direction) if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def per_gb(self, proxy, key, direction=None):
        """KEY (CPU seconds) summed over the runs that have it, per 10^9 bytes those runs received."""
        rs = [r for r in self.ok(proxy, direction) if key in r]
        gb = sum(r["bytes"] for r in rs) / 1e9
        return sum(r[key] for r in rs) / gb if rs and gb else None

    def peak_rss(self, proxy):
        peaks = [r["peak_rss_kb"] for r in self.runs if r["proxy"] == proxy and "peak_rss_kb" in r]
        return max(peaks) if peaks else None

    def find(self, proxy, direction, rnd):
        rs = [r for r in self.runs if r["proxy"] == proxy and r["dir"] == direction and r["round"] == rnd]
        return rs[0] if rs else None


def header(meta, title, cpu_shared_by, after_cpu=()):
    return [title, "", f"- date: {meta['date']}", f"- kernel: {meta['kernel']}",
            f"- cpu: {meta['cpu']} ({meta['nproc']} cores, shared by {cpu_shared_by})", *after_cpu,
            f"- transparentsocksd: {meta['commit']}", f"- peers: {meta['versions']}"]


IDLE_TABLE_HEAD = ["| proxy | processes | idle RSS MiB | idle PSS MiB |", "|---|---:|---:|---:|"]


def idle_row(name, nprocs, rss_kb, pss_kb_):
    return f"| {name} | {nprocs} | {mib(rss_kb)} | {mib(pss_kb_)} |"


def rounds_table_head(first, repeats, last):
    return [f"| {first} | dir | " + " | ".join(f"round {i + 1}" for i in range(repeats)) + f" | {last} |",
            "|---|---|" + "---:|" * repeats + "---:|"]


def summary_table_head(first, peer, more):
    """The head of the summary table: throughput and its ratios to direct and to PEER, then the MORE columns."""
    cols = [first, "fwd Gbit/s", "rev Gbit/s", "fwd vs direct", "rev vs direct", f"fwd vs {peer}", f"rev vs {peer}",
            *more]
    return ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]


def summary_row_start(runs, proxy, peer):
    """The first seven cells of PROXY's summary row; the caller appends its own cells and the closing "|"."""
    f_, r_ = runs.median(proxy, "fwd"), runs.median(proxy, "rev")
    return (f"| {proxy} | {gbit(f_)} | {gbit(r_)} "
            f"| {f2(ratio(f_, runs.median('direct', 'fwd')))} | {f2(ratio(r_, runs.median('direct', 'rev')))} "
            f"| {f2(ratio(f_, runs.median(peer, 'fwd')))} | {f2(ratio(r_, runs.median(peer, 'rev')))} ")
