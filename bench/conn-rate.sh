#!/usr/bin/env bash
# Connection rate and memory of the TRANSPARENT path: many short connections, and many idle ones, through a gateway
# namespace. transparentsocksd (TPROXY and REDIRECT) against redsocks, ipt2socks and hev-socks5-tproxy, all through
# the same upstream SOCKS5 server (danted), in the lab of transparent-iperf.sh.
#
#   sudo bash bench/conn-rate.sh                                  # DURATION=10 REPEATS=3 by default
#   sudo DURATION=3 REPEATS=1 BUILD=0 CONTENDERS="ts-tproxy redsocks" bash bench/conn-rate.sh
#   sudo TS_TREE=/work/main bash bench/conn-rate.sh               # build the daemon from another checkout
#
#   client ns 198.51.100.2 --veth-- gateway ns 198.51.100.1 | 203.0.113.1 --veth-- target ns 203.0.113.2
#   (loadgen rate|hold)             (ip_forward=1; the proxy under test,          (loadgen serve, port 80)
#                                    danted on 127.0.0.1:1080)
#
# Every contender gets a lab of its own (fresh namespaces, so TIME_WAIT sockets and conntrack entries of one never
# touch the next), its own danted and target server. In it the script takes the proxy's idle RSS, holds IDLE_CONNS
# idle connections end to end and takes the RSS again, then runs CONCURRENCY short connections at a time for
# DURATION s (at most MAX_CONNS). Every phase is checked: the target must see every connection come from
# 203.0.113.1 (danted) for a proxied contender and from 198.51.100.2 for direct, and errors are counted.
# Output: a markdown report on stdout and in bench/results/conn-rate-latest.md, the same data as JSON in
# bench/results/conn-rate-latest.json; logs and raw results in bench/out/conn-rate-run/. Settings (environment): the
# ones below, and DURATION, REPEATS, BUILD, DOTNET, PYTHON (see lib.sh). See bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=conn-rate
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transparent_lab.sh
. "$BENCH/transparent_lab.sh"
RUN=$OUT/conn-rate-run
LIB=("$PYTHON" "$BENCH/conn_rate_lib.py")
ALL_CONTENDERS=(direct ts-tproxy ts-redirect ts-nosniff ts-pipelined redsocks ipt2socks hev-socks5-tproxy)

CONTENDERS=${CONTENDERS:-${ALL_CONTENDERS[*]}} # a subset, in the order of round 1
CONCURRENCY=${CONCURRENCY:-50} # short connections in flight at once
MAX_CONNS=${MAX_CONNS:-300000} # at most this many short connections per run, whatever DURATION allows
IDLE_CONNS=${IDLE_CONNS:-1000} # idle connections held end to end for the memory figure
TS_TREE=${TS_TREE:-}       # build transparentsocksd from this checkout instead of the one bench/ is in
PEERS_BUILD=${PEERS_BUILD:-$BENCH/../../shared/peers/build.sh} # builds ipt2socks and hev-socks5-tproxy
QUIET_PCT=${QUIET_PCT:-25} # before each rate run, wait (at most QUIET_WAIT s) until the host is less busy than this
QUIET_WAIT=${QUIET_WAIT:-10}
MAX_OTHERS=${MAX_OTHERS:-0.5} # a rate run during which other processes used more cores than this is repeated ...
RETRIES=${RETRIES:-1}      # ... at most this many times; the report keeps the least disturbed attempt

RATE_DURATION=$DURATION
GW_CLI_IF=tsb-cli GW_TGT_IF=tsb-tgt
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
HTTP_PORT=80 DANTED_PORT=1080 TS_PORT=12345 RS_PORT=12346 I2S_PORT=12347 HEV_PORT=12348
UPSTREAM_PORT=$DANTED_PORT NS_PREFIX=tsbench NFT_TABLE=crbench
HOLD_SETUP_CONC=100        # idle connections being set up at once

# ---------------------------------------------------------------- settings
check_common_env
parse_contenders
[[ $CONCURRENCY =~ ^[0-9]+$ && $CONCURRENCY -ge 1 && $CONCURRENCY -le 1000 ]] || die "CONCURRENCY must be 1..1000"
[[ $MAX_CONNS =~ ^[0-9]+$ && $MAX_CONNS -ge 1 && $MAX_CONNS -le 2000000 ]] || die "MAX_CONNS must be 1..2000000"
[[ $IDLE_CONNS =~ ^[0-9]+$ && $IDLE_CONNS -ge 1 && $IDLE_CONNS -le 10000 ]] || die "IDLE_CONNS must be 1..10000"
[[ $QUIET_PCT =~ ^[0-9]+$ && $QUIET_PCT -le 100 ]] || die "QUIET_PCT must be 0..100"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 ]] || die "QUIET_WAIT must be 0..600"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 5 ]] || die "RETRIES must be 0..5"
[[ $MAX_OTHERS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MAX_OTHERS must be a number of cores"
if [[ -n $TS_TREE ]]; then
    TS_TREE=$(cd "$TS_TREE" 2>/dev/null && pwd) || die "TS_TREE is not a folder"
    [[ -d $TS_TREE/src/TransparentSocks.Daemon ]] || die "TS_TREE=$TS_TREE has no src/TransparentSocks.Daemon"
    # Directory.Build.props gives every project under a path containing /bench/ the test settings.
    [[ $TS_TREE/ != */bench/* ]] || die "TS_TREE must not be under a folder named bench"
fi
require_root "namespaces, nft, danted's user.privileged: root"

# Open files: a proxy holds 2 sockets and, when it splices, 2 pipes (4 fds) per connection, and the rest of the
# lab inherits the same limit. Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not have.
NEED_FDS=$((IDLE_CONNS * 6 + 4096))
hard=$(ulimit -Hn)
if [[ $hard != unlimited && $hard -lt $NEED_FDS ]]; then
    ulimit -Hn "$NEED_FDS" 2>/dev/null || die "IDLE_CONNS=$IDLE_CONNS needs up to $NEED_FDS open files in one proxy," \
        "but the hard limit is $hard and cannot be raised here (no CAP_SYS_RESOURCE?); use IDLE_CONNS <= $(((hard - 4096) / 6))"
fi
ulimit -Sn "$NEED_FDS"
NOFILE=$NEED_FDS

# ---------------------------------------------------------------- tools, the daemon, loadgen, the C peers
install_packages dante-server redsocks nftables iproute2 clang
require_tools danted redsocks nft ip ss clang "$PYTHON"

uses_ts=0
[[ " ${PROXIES[*]} " == *" ts-"* ]] && uses_ts=1
if ((uses_ts)) && daemon_needs_build; then
    src_root=${TS_TREE:-$REPO}
    build_info="$(git -C "$src_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    last_src=$(git -C "$src_root" log -1 --format=%h -- src 2>/dev/null || true)
    [[ -n $last_src ]] && build_info+=" (src/ last changed in $last_src)"
    [[ -n $(git -C "$src_root" status --porcelain -- src 2>/dev/null) ]] && build_info+=" + uncommitted changes in src/"
    [[ -n $TS_TREE ]] && build_info+=", from $TS_TREE"
    artifacts=$OUT/artifacts
    [[ -n $TS_TREE ]] && artifacts=$OUT/artifacts-tree-$(printf '%s' "$TS_TREE" | tr -c 'A-Za-z0-9' _)
    log "building transparentsocksd (NativeAOT, $build_info) into bench/out/daemon"
    # --artifacts-path keeps this build's obj/bin out of the source tree (src/*/obj), which other builds use.
    publish_daemon "$src_root" "$build_info" --artifacts-path "$artifacts"
fi

mkdir -p "$OUT"
LOADGEN=$OUT/loadgen
clang -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$BENCH/loadgen/loadgen.c" || die "loadgen.c did not compile"

resolve_peers

# ---------------------------------------------------------------- configs (the same in every lab)
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
write_danted_conf "$RUN/danted.conf" "$DANTED_PORT" "$GW_TGT_IF" error
# "information" logs no line per session (only failures): at thousands of connections a second a debug line per
# session would be a cost of its own.
for mode in tproxy redirect; do write_ts_transparent_conf "$RUN/ts-$mode.json" "$mode" information; done
# TPROXY with the sniff step off (issue 12): what reading the first bytes for a name costs the accept path. loadgen's
# requests carry "Host: 203.0.113.2", an IP literal, so with sniffing on every request is sniffed and the address kept.
write_ts_transparent_conf "$RUN/ts-nosniff.json" tproxy information '"sniff": false'
# TPROXY with upstream.pipelining (danted reads each message exactly): greeting and CONNECT in one write.
write_ts_transparent_conf "$RUN/ts-pipelined.json" tproxy information '' '"pipelining": true'
write_redsocks_conf "$RUN/redsocks.conf" off "$RUN/redsocks.nft" crbench
write_peer_confs

# ---------------------------------------------------------------- one lab per contender visit
SERVER_PID='' DANTED_PID=''

lab_up() {        # lab_up NAME ROUND: three fresh namespaces, the target server, and danted unless NAME is direct
    local name=$1 round=$2
    lab_ns_up
    STATS=$RUN/$name-$round.server.json
    ip netns exec "$NS_TGT" "$LOADGEN" serve "$TGT_IP" "$HTTP_PORT" "$STATS" 3600 >"$RUN/$name-$round.server.log" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    wait_listen "$HTTP_PORT" "$SERVER_PID" "$name-$round.server" "$NS_TGT"
    expect_comm "$SERVER_PID" loadgen
    DANTED_PID=
    if [[ $name != direct ]]; then
        ip netns exec "$NS_GW" danted -f "$RUN/danted.conf" -N 1 -p "$RUN/danted-$LAB.pid" \
            >"$RUN/$name-$round.danted.log" 2>&1 &
        DANTED_PID=$!
        STARTED+=("$DANTED_PID")
        wait_listen "$DANTED_PORT" "$DANTED_PID" "$name-$round.danted" "$NS_GW"
        expect_comm "$DANTED_PID" danted
    fi
}

lab_down() {      # lab_down: stop the lab's processes by PID, then delete its namespaces (rules and tables go too)
    [[ -n $DANTED_PID ]] && { stop_pid "$DANTED_PID"; forget_pid "$DANTED_PID"; }
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    DANTED_PID='' SERVER_PID=''
    lab_ns_down
}

upstream_cpu() {  # CPU seconds of danted so far (0 for direct, which has none)
    if [[ -n $DANTED_PID ]]; then "${LIB[@]}" cpu "$DANTED_PID"; else echo 0; fi
}

# ---------------------------------------------------------------- the measurements
hold_phase() {    # hold_phase NAME ROUND: RSS with IDLE_CONNS idle connections open end to end
    local name=$1 round=$2 base=$RUN/$1-$2-hold i pid
    snap "$base.s0.json"
    rm -f "$base.ready.json"
    ip netns exec "$NS_CLI" "$LOADGEN" hold "$TGT_IP" "$HTTP_PORT" "$IDLE_CONNS" "$HOLD_SETUP_CONC" 120 \
        "$base.ready.json" >"$base.json" 2>"$base.err" &
    pid=$!
    STARTED+=("$pid")
    for ((i = 0; i < 400; i++)); do   # the holder gives up setting up after 30 s; 40 s is its bound here
        [[ -f $base.ready.json ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$base.err" >&2; die "$name: loadgen hold exited early"; }
        sleep 0.1
    done
    [[ -f $base.ready.json ]] || die "$name: loadgen hold was not ready in 40 s"
    sleep 1                           # let the proxy finish what the last connections started
    if [[ $name == direct ]]; then echo '{"rss_kb": 0, "pss_kb": 0, "nprocs": 0}' >"$base.mem.json"
    else
        idle_mem "$PROXY_PID" >"$base.mem.json"
        # Raw, for explaining a change in KB/idle conn: threads (stacks), anonymous vs file-backed memory.
        grep -E '^(Threads|VmRSS|RssAnon|RssFile|RssShmem):' "/proc/$PROXY_PID/status" >"$base.status" || true
    fi
    snap "$base.s1.json"
    stop_pid "$pid"                   # SIGTERM: it closes every connection and prints its summary
    forget_pid "$pid"
    # Wait (at most 15 s) until every held connection is gone at the target too, so the rate run starts clean.
    "${LIB[@]}" drained "$SERVER_PID" "$STATS" 15 || log "note: $name: connections still open at the target after 15 s"
}

visit() {         # visit NAME ROUND: a fresh lab, the proxy's idle and held memory, then its connection rate
    local name=$1 round=$2 attempt idle failures t_visit
    t_visit=$(date +%s)
    lab_up "$name" "$round"
    idle='{"rss_kb": 0, "pss_kb": 0, "nprocs": 0}'
    if [[ $name != direct ]]; then
        start_proxy "$name" "$round"
        sleep 1                                       # idle memory: listening, nothing connected yet
        idle=$(idle_mem "$PROXY_PID")
    fi
    echo "$idle" >"$RUN/$name-$round-idle.json"
    hold_phase "$name" "$round"
    "${LIB[@]}" hold "$RUN/results.jsonl" "$RUN/$name-$round" "$name" "$round" "$IDLE_CONNS" "$(expected_peer "$name")" \
        || die "$name round $round: the idle connections failed their checks (bench/out/conn-rate-run/$name-$round-hold.*)"
    for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
        rate_attempt "$name" "$round" "$attempt"
        awk -v o="$OTHERS" -v m="$MAX_OTHERS" 'BEGIN {exit !(o <= m)}' && break
        ((attempt <= RETRIES)) && log "$name round $round: other processes used $OTHERS cores during the run; repeating it"
    done
    if [[ $name == ts-* ]]; then  # at "information" a session is logged only when it fails
        failures=$(grep -c ' failed: ' "$RUN/$name-$round.log" || true)
        ((failures == 0)) || log "note: $name round $round logged $failures failed sessions (bench/out/conn-rate-run/$name-$round.log)"
    fi
    stop_proxy
    lab_down
    log "$name round $round: $(($(date +%s) - t_visit)) s"
}

host_facts redsocks dante-server nftables
VERSIONS="$(dpkg-query -W -f='${Package} ${Version}; ' redsocks dante-server nftables)$(clang --version | head -n 1)"
log "lab per contender: client $CLI_IP -> gateway ($GW_CLI_IF $GW_CLI_IP | $GW_TGT_IF $GW_TGT_IP) -> target $TGT_IP:$HTTP_PORT"
log "$REPEATS round(s) x ${#PROXIES[@]} contenders (${PROXIES[*]}): $IDLE_CONNS idle connections, then" \
    "${DURATION}s of short connections at concurrency $CONCURRENCY; ≈ $((REPEATS * ${#PROXIES[@]} * (DURATION + 12))) s"
T_BEGIN=$(date +%s)
run_rounds visit

write_meta IDLE='{}' BUSY="${BUSY[*]}" MAX_OTHERS_C="$MAX_OTHERS" RETRIES_N="$RETRIES" \
    QUIET="$QUIET_PCT $QUIET_WAIT" CONC="$CONCURRENCY" MAXC="$MAX_CONNS" IDLE_N="$IDLE_CONNS" SKIPPED="$(skipped_json)" \
    PEER_BUILDS="$PEER_VERSIONS" WALL_S=$(($(date +%s) - T_BEGIN)) LOADGEN_SHA="$(sha256sum "$BENCH/loadgen/loadgen.c" | cut -c1-12)"
"${LIB[@]}" report "$RUN/results.jsonl" "$RUN/meta.json" "$BENCH/results/conn-rate-latest.json" \
    >"$BENCH/results/conn-rate-latest.md"
cat "$BENCH/results/conn-rate-latest.md"
log "wrote bench/results/conn-rate-latest.md and .json (raw: bench/out/conn-rate-run/)"
