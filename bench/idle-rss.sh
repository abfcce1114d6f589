#!/usr/bin/env bash
# Idle RSS of the NativeAOT daemon (issue 9's target: <= 8 MiB with the transparent path and the SOCKS5 server on).
#
#   sudo bash bench/idle-rss.sh                       # publish bench/out/idle-rss/daemon, then measure it
#   sudo BUILD=0 DAEMON=/path/transparentsocksd bash bench/idle-rss.sh   # measure a given binary
#   sudo RUNS=5 LATE=120 CONFIGS=tproxy+server bash bench/idle-rss.sh    # more runs, a second reading at 120 s, one config
#
#   gateway ns <P>-gw 198.51.100.1/24 (tsir0) --veth-- client ns <P>-cli 198.51.100.2/24 (tsir1)
#
# Two configs: "tproxy" (the transparent path on tsir0, TPROXY, defaults otherwise) and "tproxy+server" (the same
# plus a SOCKS5 server on 127.0.0.1:1090, unused). Each is started RUNS times; a run waits for the log line
# "transparentsocksd started" (the data plane is up; the control socket and READY=1 follow within milliseconds),
# then WAIT s, then reads /proc/PID/status (VmRSS, RssFile, RssAnon, Threads) and /proc/PID/smaps_rollup (Pss); with
# LATE, once more LATE s after that line (an idle daemon's memory changes as its timers allocate). The table gives
# the median of each column. The last run's /proc/PID/smaps, summed per mapping, is in
# bench/out/idle-rss/<config>.maps.txt. The namespaces (which take the veth, the nft table and the routes with them)
# are deleted at exit, and the daemon is stopped by its PID.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
OUT=${OUT:-$BENCH/out/idle-rss}   # logs, configs, smaps
RUNS=${RUNS:-3}
WAIT=${WAIT:-2}
LATE=${LATE:-0}   # > WAIT: each run is read a second time, LATE s after the start line (the daemon after idling a while)
BUILD=${BUILD:-1}
PUBLISH_ARGS=${PUBLISH_ARGS:-}  # more dotnet publish arguments, e.g. -p:OptimizationPreference=Size (split on spaces)
DOTNET=${DOTNET:-dotnet}
PUBLISH_DIR=${PUBLISH_DIR:-$OUT/daemon}
DAEMON=${DAEMON:-$PUBLISH_DIR/transparentsocksd}
CONFIGS=${CONFIGS:-tproxy tproxy+server}
NS_PREFIX=${NS_PREFIX:-tsir-$$}
NS_GW=$NS_PREFIX-gw NS_CLI=$NS_PREFIX-cli
PID=

log() { printf '[idle-rss] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
    if [[ -n $PID ]]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    ip netns del "$NS_GW" 2>/dev/null || true
    ip netns del "$NS_CLI" 2>/dev/null || true
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "run as root (namespaces, nft): sudo bash $0"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
mkdir -p "$OUT"

if [[ $BUILD != 0 ]]; then
    read -r -a extra <<<"$PUBLISH_ARGS"
    log "publishing the daemon (NativeAOT${PUBLISH_ARGS:+, $PUBLISH_ARGS}) into $PUBLISH_DIR"
    # --artifacts-path keeps this build's obj/bin away from src/*/obj, which other builds of the tree use.
    (cd "$REPO" && "$DOTNET" publish src/TransparentSocks.Daemon -c Release -r linux-x64 -o "$PUBLISH_DIR" \
        --artifacts-path "$OUT/artifacts" "${extra[@]}") >"$OUT/publish.log" 2>&1 || { tail -n 30 "$OUT/publish.log" >&2; die "publish failed"; }
    ! grep -qE ': warning [A-Z]+[0-9]+' "$OUT/publish.log" || log "note: the publish had warnings (see $OUT/publish.log)"
fi
[[ -x $DAEMON ]] || die "$DAEMON missing"

ip netns add "$NS_GW"
ip netns add "$NS_CLI"
ip -n "$NS_GW" link add tsir0 type veth peer name tsir1 netns "$NS_CLI"
ip -n "$NS_GW" addr add 198.51.100.1/24 dev tsir0
ip -n "$NS_CLI" addr add 198.51.100.2/24 dev tsir1
ip -n "$NS_GW" link set lo up
ip -n "$NS_GW" link set tsir0 up
ip -n "$NS_CLI" link set lo up
ip -n "$NS_CLI" link set tsir1 up

write_config() {  # write_config NAME FILE
    local server=
    [[ $1 == *server* ]] && server='"server": { "enabled": true, "listen": "127.0.0.1:1090" },'
    cat >"$2" <<EOF
{
  "upstream": { "address": "127.0.0.1:1081" },
  $server
  "transparent": { "enabled": true, "mode": "tproxy", "port": 12345, "interfaces": [ { "name": "tsir0" } ] },
  "control": { "socket": "$OUT/$1.sock" },
  "logging": { "level": "information" }
}
EOF
}

field() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }   # field KEY FILE: the kB figure of a /proc status line

per_mapping() {   # per_mapping SMAPS: Rss and Anonymous (kB) per mapping (path or [name], permissions), largest first
    awk '
        /^[0-9a-f]+-[0-9a-f]+ / { key = ($6 == "" ? "[anon]" : $6) " " $2; next }
        $1 == "Rss:" { rss[key] += $2 }
        $1 == "Anonymous:" { anon[key] += $2 }
        END { for (k in rss) if (rss[k] > 0) printf "%8d %8d  %s\n", rss[k], anon[k], k }' "$1" | sort -rn
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

measure() {       # measure NAME: RUNS runs; one line "rss file anon pss threads" per run into $OUT/NAME.runs
    local name=$1 conf=$OUT/$1.json logf=$OUT/$1.log i r
    write_config "$name" "$conf"
    : >"$OUT/$name.runs"
    : >"$OUT/$name.late.runs"
    for ((r = 1; r <= RUNS; r++)); do
        : >"$logf"
        ip netns exec "$NS_GW" "$DAEMON" --config "$conf" >"$logf" 2>&1 &
        PID=$!
        for ((i = 0; i < 200; i++)); do
            grep -q "transparentsocksd started" "$logf" && break
            kill -0 "$PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start"; }
            sleep 0.1
        done
        grep -q "transparentsocksd started" "$logf" || die "$name did not log 'transparentsocksd started' in 20 s"
        sleep "$WAIT"
        cp "/proc/$PID/status" "$OUT/$name.status"
        cp "/proc/$PID/smaps_rollup" "$OUT/$name.rollup"
        cp "/proc/$PID/smaps" "$OUT/$name.smaps"
        echo "$(field VmRSS "$OUT/$name.status") $(field RssFile "$OUT/$name.status") $(field RssAnon "$OUT/$name.status")" \
            "$(field Pss "$OUT/$name.rollup") $(field Threads "$OUT/$name.status")" >>"$OUT/$name.runs"
        if ((LATE > WAIT)); then
            sleep $((LATE - WAIT))
            cp "/proc/$PID/status" "$OUT/$name.late.status"
            echo "$(field VmRSS "$OUT/$name.late.status") $(field RssFile "$OUT/$name.late.status")" \
                "$(field RssAnon "$OUT/$name.late.status")" >>"$OUT/$name.late.runs"
        fi
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null || true
        PID=
    done
    per_mapping "$OUT/$name.smaps" >"$OUT/$name.maps.txt"
}

late_cells() {    # late_cells FILE: the medians of the second reading, as table cells, when there is one
    ((LATE > WAIT)) || return 0
    echo " $(mib "$(cut -d' ' -f1 "$1" | median)") | $(mib "$(cut -d' ' -f2 "$1" | median)") | $(mib "$(cut -d' ' -f3 "$1" | median)") |"
}

mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

late_head= late_rule=
((LATE > WAIT)) && late_head=" RSS at ${LATE} s | file | anon |" late_rule="---|---|---|"
echo "| config | RSS MiB | file MiB | anon MiB | PSS MiB | threads | runs (RSS KiB) |$late_head"
echo "|---|---|---|---|---|---|---|$late_rule"
for c in $CONFIGS; do
    measure "$c"
    f=$OUT/$c.runs
    echo "| $c | $(mib "$(cut -d' ' -f1 "$f" | median)") | $(mib "$(cut -d' ' -f2 "$f" | median)")" \
        "| $(mib "$(cut -d' ' -f3 "$f" | median)") | $(mib "$(cut -d' ' -f4 "$f" | median)")" \
        "| $(cut -d' ' -f5 "$f" | median) | $(cut -d' ' -f1 "$f" | paste -sd' ') |$(late_cells "$OUT/$c.late.runs")"
done
log "binary: $(stat -c %s "$DAEMON") bytes; per-mapping Rss/Anonymous (kB) of the last run: ${OUT#"$REPO"/}/<config>.maps.txt"
