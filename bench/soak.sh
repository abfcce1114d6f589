#!/usr/bin/env bash
# Soak of the transparent path (issue 11): many short connections and much bulk through transparentsocksd in TPROXY
# mode, with its fds, VmRSS and threads sampled all along, and a verdict on whether they are flat at the end.
#
#   sudo bash bench/soak.sh                                        # 1,000,000 connections and 50 GB (tens of minutes)
#   sudo SOAK_CONNS=100000 SOAK_BYTES=5G BUILD=0 bash bench/soak.sh # the short run of results/soak-latest.md
#
#   client ns 198.51.100.2 --veth-- gateway ns 198.51.100.1 | 203.0.113.1 --veth-- target ns 203.0.113.2
#   (loadgen rate, iperf3 -c)       (front: transparentsocksd TPROXY on tsb-cli   (loadgen serve :80, iperf3 -s)
#                                    upstream: transparentsocksd server mode on 127.0.0.1:1081)
#
# The upstream is the daemon's own SOCKS5 server: it splices like the front, so it is not the ceiling (danted would
# be, at a third of the rate), and the soak covers the server path too. Both are sampled.
# The load is SOAK_ROUNDS rounds, each SOAK_CONNS/SOAK_ROUNDS connections (loadgen rate, SOAK_CONC in flight) and
# then SOAK_BYTES/SOAK_ROUNDS of one iperf3 stream (forward and reverse in turn). Round 1 is the warm-up: the level
# after it is what the end is compared with (the thread pool and the GC heap grow to their working size there).
# After the last round the daemons idle SOAK_SETTLE s, and the last sample is the end.
# Output: a markdown report on stdout and in bench/results/soak-latest.md, the samples in bench/results/soak-latest.csv
# and the figures as JSON in bench/results/soak-latest.json; logs in bench/out/soak-run/. Exit status 1 when a daemon
# is not flat at the end. Settings (environment): the ones below, and BUILD, DOTNET, PYTHON (see lib.sh).
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=soak
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
RUN=$OUT/soak-run
LIB=("$PYTHON" "$BENCH/soak_lib.py")

SOAK_CONNS=${SOAK_CONNS:-1000000} # short connections in all
SOAK_BYTES=${SOAK_BYTES:-50G}     # bulk bytes in all (a number, or with K/M/G: decimal units, as iperf3 -n reads them)
SOAK_SAMPLE=${SOAK_SAMPLE:-10}    # seconds between samples
SOAK_ROUNDS=${SOAK_ROUNDS:-10}    # the load is cut into this many rounds of connections then bulk
SOAK_CONC=${SOAK_CONC:-50}        # short connections in flight at once
SOAK_SETTLE=${SOAK_SETTLE:-30}    # idle seconds after the load before the end sample
SOAK_MAX_S=${SOAK_MAX_S:-7200}    # the whole run is bounded: the sampler stops, and each step has a timeout

GW_CLI_IF=tsb-cli GW_TGT_IF=tsb-tgt
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
HTTP_PORT=80 IPERF_PORT=5201 TS_PORT=12345 UPSTREAM_PORT=1081

bytes_of() {      # bytes_of 50G -> 50000000000
    local v=$1
    case $v in
        *[kK]) echo $((${v%?} * 1000)) ;;
        *[mM]) echo $((${v%?} * 1000000)) ;;
        *[gG]) echo $((${v%?} * 1000000000)) ;;
        *) echo "$v" ;;
    esac
}
[[ $SOAK_CONNS =~ ^[0-9]+$ && $SOAK_CONNS -ge 1000 && $SOAK_CONNS -le 100000000 ]] || die "SOAK_CONNS must be 1000..100000000"
[[ $SOAK_BYTES =~ ^[0-9]+[kKmMgG]?$ ]] || die "SOAK_BYTES must be a number of bytes, optionally with K, M or G"
BYTES=$(bytes_of "$SOAK_BYTES")
[[ $SOAK_SAMPLE =~ ^[0-9]+$ && $SOAK_SAMPLE -ge 1 && $SOAK_SAMPLE -le 600 ]] || die "SOAK_SAMPLE must be 1..600"
[[ $SOAK_ROUNDS =~ ^[0-9]+$ && $SOAK_ROUNDS -ge 2 && $SOAK_ROUNDS -le 1000 ]] || die "SOAK_ROUNDS must be 2..1000"
[[ $SOAK_CONC =~ ^[0-9]+$ && $SOAK_CONC -ge 1 && $SOAK_CONC -le 1000 ]] || die "SOAK_CONC must be 1..1000"
[[ $SOAK_SETTLE =~ ^[0-9]+$ && $SOAK_SETTLE -le 600 ]] || die "SOAK_SETTLE must be 0..600"
[[ $SOAK_MAX_S =~ ^[0-9]+$ && $SOAK_MAX_S -ge 60 && $SOAK_MAX_S -le 86400 ]] || die "SOAK_MAX_S must be 60..86400"
CONNS_PER_ROUND=$((SOAK_CONNS / SOAK_ROUNDS))
BYTES_PER_ROUND=$((BYTES / SOAK_ROUNDS))
require_root "namespaces, nft, TPROXY"

install_packages iperf3 nftables iproute2 clang
require_tools iperf3 nft ip ss clang "$PYTHON"
if daemon_needs_build; then
    info=$(worktree_build_info)
    log "building transparentsocksd (NativeAOT, $info) into bench/out/daemon"
    publish_daemon "$REPO" "$info" --artifacts-path "$OUT/artifacts"
fi
mkdir -p "$OUT"
LOADGEN=$OUT/loadgen
clang -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$BENCH/loadgen/loadgen.c" || die "loadgen.c did not compile"

rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"

# ---------------------------------------------------------------- the lab
NS_CLI=soak-$$-cli NS_GW=soak-$$-gw NS_TGT=soak-$$-tgt
for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    # A million connections in minutes: the active closer of each leg holds a TIME_WAIT for 60 s, far more than one
    # port range's worth; reuse lets a new outgoing connection take a TIME_WAIT tuple that timestamps tell apart.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
done
wire_lab

# ---------------------------------------------------------------- target, upstream, front
ip netns exec "$NS_TGT" "$LOADGEN" serve "$TGT_IP" "$HTTP_PORT" "$RUN/server.json" "$SOAK_MAX_S" >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
STARTED+=("$SERVER_PID")
wait_listen "$HTTP_PORT" "$SERVER_PID" server "$NS_TGT"
ip netns exec "$NS_TGT" iperf3 -s -B "$TGT_IP" -p "$IPERF_PORT" >"$RUN/iperf3-server.log" 2>&1 &
IPERF_PID=$!
STARTED+=("$IPERF_PID")
wait_listen "$IPERF_PORT" "$IPERF_PID" iperf3-server "$NS_TGT"

# Every session of the front reaches the upstream from 127.0.0.1, one source: the default maxHandshakesPerClient (32)
# would reset the front's handshakes past 32 in flight (SOCKS5 greeting: connection reset by peer).
cat >"$RUN/upstream.json" <<EOF
{
  "server": { "enabled": true, "listen": "127.0.0.1:$UPSTREAM_PORT", "allowPrivateDestinations": true,
              "maxHandshakes": 4096, "maxHandshakesPerClient": 4096 },
  "control": { "socket": "$RUN/upstream.sock" },
  "logging": { "level": "information" }
}
EOF
ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/upstream.json" >"$RUN/upstream.log" 2>&1 &
UP_PID=$!
STARTED+=("$UP_PID")
wait_listen "$UPSTREAM_PORT" "$UP_PID" upstream "$NS_GW"

write_ts_transparent_conf "$RUN/front.json" tproxy information
: >"$RUN/front.log"
ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/front.json" >"$RUN/front.log" 2>&1 &
FRONT_PID=$!
STARTED+=("$FRONT_PID")
for ((i = 0; i < 200; i++)); do
    grep -q "transparentsocksd started" "$RUN/front.log" && break
    kill -0 "$FRONT_PID" 2>/dev/null || { cat "$RUN/front.log" >&2; die "the front daemon exited at start"; }
    sleep 0.1
done
grep -q "transparentsocksd started" "$RUN/front.log" || die "the front daemon did not log 'transparentsocksd started' in 20 s"

# ---------------------------------------------------------------- the load, sampled
PHASE=$RUN/phase
echo idle >"$PHASE"
"${LIB[@]}" sample "$RUN/samples.csv" "$RUN/stop" "$SOAK_SAMPLE" "$SOAK_MAX_S" "$PHASE" front="$FRONT_PID" upstream="$UP_PID" &
SAMPLER_PID=$!
sleep $((SOAK_SAMPLE + 1))   # at least one idle sample after the first

T_BEGIN=$(date +%s)
log "$SOAK_ROUNDS rounds of $CONNS_PER_ROUND connections (concurrency $SOAK_CONC) and $BYTES_PER_ROUND bytes of bulk; sampling every $SOAK_SAMPLE s"
for ((round = 1; round <= SOAK_ROUNDS; round++)); do
    left=$((SOAK_MAX_S - ($(date +%s) - T_BEGIN)))
    ((left > 60)) || die "SOAK_MAX_S reached in round $round"
    ((round == 1)) && echo warm >"$PHASE" || echo conns >"$PHASE"
    timeout "$left" ip netns exec "$NS_CLI" "$LOADGEN" rate "$TGT_IP" "$HTTP_PORT" "$SOAK_CONC" 600 "$CONNS_PER_ROUND" \
        >"$RUN/rate-$round.json" 2>"$RUN/rate-$round.err" || die "round $round: loadgen rate failed (bench/out/soak-run/rate-$round.err)"
    ((round == 1)) || echo bulk >"$PHASE"
    reverse=()
    ((round % 2 == 0)) && reverse=(-R)
    timeout "$left" ip netns exec "$NS_CLI" iperf3 -c "$TGT_IP" -p "$IPERF_PORT" -n "$BYTES_PER_ROUND" "${reverse[@]}" -J \
        >"$RUN/bulk-$round.json" 2>"$RUN/bulk-$round.err" || die "round $round: iperf3 failed (bench/out/soak-run/bulk-$round.json)"
    kill -0 "$FRONT_PID" 2>/dev/null || die "the front daemon died in round $round"
    kill -0 "$UP_PID" 2>/dev/null || die "the upstream daemon died in round $round"
    log "round $round/$SOAK_ROUNDS: $("$PYTHON" -c 'import json,sys; r=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))["end"]["sum_received"]; print("%d ok at %.0f/s, %.2f GB at %.2f Gbit/s" % (r["ok"], r["conns_per_s"], b["bytes"]/1e9, b["bits_per_second"]/1e9))' "$RUN/rate-$round.json" "$RUN/bulk-$round.json")"
    # The warm-up's level is taken once its connections are gone: the same state the end is taken in.
    ((round == 1)) && sleep $((SOAK_SAMPLE + 1))
done
echo end >"$PHASE"
sleep "$SOAK_SETTLE"
touch "$RUN/stop"
wait "$SAMPLER_PID" || true
SAMPLER_PID=
WALL=$(($(date +%s) - T_BEGIN))

# ---------------------------------------------------------------- the report
"$PYTHON" - "$RUN" "$SOAK_ROUNDS" >"$RUN/meta.json" <<EOF
import json, os, statistics, subprocess, sys
run, rounds = sys.argv[1], int(sys.argv[2])
rates = [json.load(open(f"{run}/rate-{i}.json")) for i in range(1, rounds + 1)]
bulks = [json.load(open(f"{run}/bulk-{i}.json"))["end"]["sum_received"] for i in range(1, rounds + 1)]
errors = sum(sum(v for v in r.get("errors", {}).values() if isinstance(v, int)) for r in rates)
print(json.dumps({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')", "build": open("$OUT/daemon/BUILD-INFO").read().strip(),
    "kernel": "$(uname -sr)", "cpu": "$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)", "nproc": os.cpu_count(),
    "upstream": "transparentsocksd server mode, 127.0.0.1:$UPSTREAM_PORT",
    "conns": $SOAK_CONNS, "bytes": $BYTES, "rounds": rounds, "conc": $SOAK_CONC, "sample": $SOAK_SAMPLE, "settle": $SOAK_SETTLE,
    "ok": sum(r["ok"] for r in rates), "started": sum(r["started"] for r in rates), "errors": errors,
    "bulk_bytes": sum(b["bytes"] for b in bulks),
    "conns_per_s": statistics.median(r["conns_per_s"] for r in rates),
    "gbit": statistics.median(b["bits_per_second"] for b in bulks) / 1e9, "wall_s": $WALL}))
EOF
cp "$RUN/samples.csv" "$BENCH/results/soak-latest.csv"
rc=0
"${LIB[@]}" report "$RUN/samples.csv" "$RUN/meta.json" "$BENCH/results/soak-latest.json" >"$BENCH/results/soak-latest.md" || rc=$?
cat "$BENCH/results/soak-latest.md"
log "wrote bench/results/soak-latest.md, .csv and .json (raw: bench/out/soak-run/)"
exit "$rc"
