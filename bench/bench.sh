#!/usr/bin/env bash
# `make bench` (issue 9): every transparent proxy side by side in one run, through the same fast upstream, in the
# namespace lab of conn-rate.sh: iperf3 with 1 and 4 streams and the proxy's and the upstream's CPU, short
# connections per second with their latency, idle RSS, and RSS, CPU and fds with idle connections held end to end.
#
#   sudo make bench                                              # or: sudo bash bench/bench.sh
#   sudo REPEATS=1 DURATION=2 RATE_DURATION=3 HOLD_LEVELS="200 1000" CONTENDERS="direct ts-tproxy ipt2socks" \
#        BUILD=0 bash bench/bench.sh                             # a smoke run
#
#   client ns 198.51.100.2 --veth-- gateway ns 198.51.100.1 | 203.0.113.1 --veth-- target ns 203.0.113.2
#   (iperf3 -c, loadgen rate|hold)  (ip_forward=1; the proxy under test,          (iperf3 -s, loadgen serve :80)
#                                    the upstream on 127.0.0.1:1081)
#
# The upstream is transparentsocksd's own SOCKS5 server (UPSTREAM=ts-server), so that it is not the ceiling; when
# held connections need more fds than one process may have, it runs as several instances behind one address, an nft
# numgen redirect spreading the connections over them. UPSTREAM=danted or v2ray (its socks inbound) instead.
# Every contender visit gets fresh namespaces, upstream and target servers (so TIME_WAIT and conntrack state of one
# never touch the next). A visit: the proxy's idle RSS and fds; in the first HOLD_ROUNDS rounds, idle connections
# held at each of HOLD_LEVELS (levels past what the fd limit allows become the largest that fits); iperf3 with 1 and
# 4 streams (DURATION s each); RATE_DURATION s of short connections at CONCURRENCY. Every run is checked: the target
# must see every connection come from 203.0.113.1 (the upstream) for a proxied contender and from 198.51.100.2 for
# direct. Output: bench/results/bench-latest.md (also on stdout) and bench-latest.json; raw results and logs in
# bench/out/bench-run/. See bench/README.md.
set -euo pipefail
T_START=$(date +%s)   # the wall time the report gives includes installing and building

DURATION=${DURATION:-3}    # seconds per iperf3 run (lib.sh's default is 10; a visit makes two, and 15 minutes hold 48)
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=bench
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transparent_lab.sh
. "$BENCH/transparent_lab.sh"
RUN=$OUT/bench-run
LIB=("$PYTHON" "$BENCH/bench_lib.py")
ALL_CONTENDERS=(direct ts-tproxy ts-redirect ts-pooled redsocks v2ray ipt2socks hev-socks5-tproxy)

CONTENDERS=${CONTENDERS:-${ALL_CONTENDERS[*]}} # a subset, in the order of round 1
UPSTREAM=${UPSTREAM:-ts-server} # ts-server | danted | v2ray
STREAMS=${STREAMS:-1 4}    # iperf3 -P of each throughput run
RATE_DURATION=${RATE_DURATION:-10} # seconds of short connections per visit
CONCURRENCY=${CONCURRENCY:-50} # short connections in flight at once
MAX_CONNS=${MAX_CONNS:-300000} # at most this many short connections per run, whatever RATE_DURATION allows
HOLD_LEVELS=${HOLD_LEVELS:-1000 10000 100000} # idle connections held at once, measured at each
HOLD_ROUNDS=${HOLD_ROUNDS:-1} # the hold phase runs in this many rounds (from round 1)
HOLD_SETUP_CONC=${HOLD_SETUP_CONC:-100} # idle connections being set up at once
PEERS_BUILD=${PEERS_BUILD:-$BENCH/../../shared/peers/build.sh} # builds ipt2socks and hev-socks5-tproxy
# Seconds every contender is left quiet at each hold level before its memory is read. transparentsocksd gives its
# heap's garbage back to the kernel once allocation has been quiet for 2-3 s (Hosting/MemoryTrimmer.cs); read sooner,
# its RSS holds the set-up garbage of the last connections, which a box that stays idle never carries. The C tools
# have nothing to give back; they wait as long. (The idle reading stays at 1 s after the start: what the start used
# is given back as soon as every service is up, not after a quiet period.)
SETTLE=${SETTLE:-4}
QUIET_PCT=${QUIET_PCT:-25} # QUIET_WAIT > 0: before each rate run, wait at most that long for a host under QUIET_PCT % busy
QUIET_WAIT=${QUIET_WAIT:-0} # 0: no wait (the 15-minute budget has no room for it); "others" is recorded either way

GW_CLI_IF=tsb-cli GW_TGT_IF=tsb-tgt
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
HTTP_PORT=80 IPERF_PORT=5201 UPSTREAM_PORT=1081 TS_PORT=12345 RS_PORT=12346 I2S_PORT=12347 HEV_PORT=12348
V2RAY_PORT=12349 PROBE_SERVER_PORT=1090
NS_PREFIX=mkbench NFT_TABLE=mkbench
FD_MARGIN=1000             # fds per process left for everything but held connections

# ---------------------------------------------------------------- settings
check_common_env
parse_contenders
[[ $UPSTREAM == ts-server || $UPSTREAM == danted || $UPSTREAM == v2ray ]] || die "UPSTREAM must be ts-server, danted or v2ray"
read -r -a STREAM_LIST <<<"$STREAMS"
((${#STREAM_LIST[@]})) || die "STREAMS is empty"
for s in "${STREAM_LIST[@]}"; do [[ $s =~ ^[0-9]+$ && $s -ge 1 && $s -le 16 ]] || die "each of STREAMS must be 1..16"; done
[[ $RATE_DURATION =~ ^[0-9]+$ && $RATE_DURATION -ge 1 && $RATE_DURATION -le 120 ]] || die "RATE_DURATION must be 1..120"
[[ $CONCURRENCY =~ ^[0-9]+$ && $CONCURRENCY -ge 1 && $CONCURRENCY -le 1000 ]] || die "CONCURRENCY must be 1..1000"
[[ $MAX_CONNS =~ ^[0-9]+$ && $MAX_CONNS -ge 1 && $MAX_CONNS -le 2000000 ]] || die "MAX_CONNS must be 1..2000000"
read -r -a LEVELS_ASKED <<<"$HOLD_LEVELS"
((${#LEVELS_ASKED[@]})) || die "HOLD_LEVELS is empty"
for ((i = 0; i < ${#LEVELS_ASKED[@]}; i++)); do
    [[ ${LEVELS_ASKED[i]} =~ ^[0-9]+$ && ${LEVELS_ASKED[i]} -ge 10 && ${LEVELS_ASKED[i]} -le 1000000 ]] \
        || die "each of HOLD_LEVELS must be 10..1000000"
    ((i == 0 || LEVELS_ASKED[i] > LEVELS_ASKED[i - 1])) || die "HOLD_LEVELS must increase"
done
[[ $HOLD_ROUNDS =~ ^[0-9]+$ && $HOLD_ROUNDS -le 10 ]] || die "HOLD_ROUNDS must be 0..10"
[[ $HOLD_SETUP_CONC =~ ^[0-9]+$ && $HOLD_SETUP_CONC -ge 1 && $HOLD_SETUP_CONC -le 2000 ]] || die "HOLD_SETUP_CONC must be 1..2000"
[[ $SETTLE =~ ^[0-9]+$ && $SETTLE -ge 1 && $SETTLE -le 60 ]] || die "SETTLE must be 1..60"
[[ $QUIET_PCT =~ ^[0-9]+$ && $QUIET_PCT -le 100 ]] || die "QUIET_PCT must be 0..100"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 ]] || die "QUIET_WAIT must be 0..600"
require_root "namespaces, nft, TPROXY, transparent sockets"

# Open files. A proxy holds at least 2 fds per held connection (more when it keeps pipes), and every process of the
# lab inherits the same limit. Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not have: then
# the levels past what fits are lowered per contender (from the fds it used at the first level), and the report says
# which levels could not be held and why.
NOFILE_START=$(ulimit -Hn)
ulimit -Hn 1048576 2>/dev/null || true
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
ulimit -Sn "$NOFILE"
log "open files: hard limit $NOFILE per process (was $NOFILE_START; raising it to 1048576 $( ((NOFILE >= 1048576)) && echo worked || echo failed))"
# The held connections of the biggest level that can fit at 2 fds each in one front proxy; holders and the
# target split theirs over processes below the limit too.
HOLD_CAP=$(((NOFILE - FD_MARGIN) / 2))
HOLD_CHUNK=$((NOFILE - FD_MARGIN))   # connections per loadgen holder process (1 fd each)
LEVEL_MAX=${LEVELS_ASKED[-1]}
((LEVEL_MAX > HOLD_CAP)) && LEVEL_MAX=$HOLD_CAP
UPSTREAMS=1
if [[ $UPSTREAM == ts-server ]]; then
    # The upstream holds up to 6 fds per connection (2 sockets, 2 pipes of 2) in the worst case.
    UPSTREAMS=$(((6 * LEVEL_MAX + HOLD_CHUNK - 1) / HOLD_CHUNK))
    ((UPSTREAMS >= 1)) || UPSTREAMS=1
    ((UPSTREAMS <= 8)) || die "the upstream would need $UPSTREAMS instances for $LEVEL_MAX connections; lower HOLD_LEVELS"
fi

# ---------------------------------------------------------------- tools, the daemon, loadgen, the peers
pkgs=(iperf3 nftables iproute2 clang procps)
[[ " ${PROXIES[*]} " == *" redsocks "* ]] && pkgs+=(redsocks)
[[ " ${PROXIES[*]} " == *" v2ray "* || $UPSTREAM == v2ray ]] && pkgs+=(v2ray)
[[ $UPSTREAM == danted ]] && pkgs+=(dante-server)
[[ " ${PROXIES[*]} " == *" ipt2socks "* || " ${PROXIES[*]} " == *" hev-socks5-tproxy "* ]] && pkgs+=(build-essential)
install_packages "${pkgs[@]}"
require_tools iperf3 nft ip ss clang "$PYTHON"

if daemon_needs_build; then
    build_info=$(worktree_build_info)
    log "building transparentsocksd (NativeAOT, $build_info) into bench/out/daemon"
    # --artifacts-path keeps this build's obj/bin away from src/*/obj, which other builds of the tree use.
    publish_daemon "$REPO" "$build_info" --artifacts-path "$OUT/artifacts"
fi
[[ -x $DAEMON ]] || die "$DAEMON missing"
mkdir -p "$OUT"
LOADGEN=$OUT/loadgen
clang -O2 -Wall -Wextra -Werror -o "$LOADGEN" "$BENCH/loadgen/loadgen.c" || die "loadgen.c did not compile"
resolve_peers
T_BUILT=$(date +%s)

# ---------------------------------------------------------------- configs (the same in every lab)
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
# "information" logs no line per session (only failures): at thousands of connections a second a line per session
# would be a cost of its own.
write_ts_transparent_conf "$RUN/ts-tproxy.json" tproxy information
write_ts_transparent_conf "$RUN/ts-redirect.json" redirect information
write_ts_transparent_conf "$RUN/ts-pooled.json" tproxy information "" '"pooling": true'
# The idle-memory probe of issue 9's target "transparent path and server on": ts-tproxy's config plus a SOCKS5
# server nobody uses.
write_ts_transparent_conf "$RUN/ts-probe.json" tproxy information
"$PYTHON" - "$RUN/ts-probe.json" "$PROBE_SERVER_PORT" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["server"] = {"enabled": True, "listen": f"127.0.0.1:{sys.argv[2]}"}
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
# It splices: 6 fds per connection, so what the fds allow, not its default of a fd limit / 8 (2,500 here).
write_redsocks_conf "$RUN/redsocks.conf" off "$RUN/redsocks.nft" "$NFT_TABLE" $(((NOFILE - FD_MARGIN) / 6))
write_peer_confs

UP_PORTS=()
case $UPSTREAM in
    ts-server)
        for ((u = 0; u < UPSTREAMS; u++)); do
            UP_PORTS+=($((UPSTREAMS > 1 ? UPSTREAM_PORT + 1 + u : UPSTREAM_PORT)))
            # Every front session reaches the upstream from 127.0.0.1, one source: the default maxHandshakesPerClient
            # (32) would reset the front's handshakes past 32 in flight.
            cat >"$RUN/upstream-$u.json" <<EOF
{
  "server": { "enabled": true, "listen": "127.0.0.1:${UP_PORTS[u]}", "allowPrivateDestinations": true, "udp": false,
              "maxHandshakes": 4096, "maxHandshakesPerClient": 4096, "maxConnections": $((LEVEL_MAX + 1000)) },
  "control": { "socket": "$RUN/upstream-$u.sock" },
  "logging": { "level": "information" }
}
EOF
        done
        map=
        for ((u = 0; u < UPSTREAMS; u++)); do map+="$u : ${UP_PORTS[u]}, "; done
        # One address for the fronts; each new connection to it goes to the next instance (nat: per connection).
        cat >"$RUN/upstreams.nft" <<EOF
table ip mkbench_up {
  chain out {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.1 tcp dport $UPSTREAM_PORT redirect to :numgen inc mod $UPSTREAMS map { ${map%, } }
  }
}
EOF
        ;;
    danted)
        UP_PORTS=("$UPSTREAM_PORT")
        write_danted_conf "$RUN/danted.conf" "$UPSTREAM_PORT" "$GW_TGT_IF" error
        ;;
    v2ray)
        UP_PORTS=("$UPSTREAM_PORT")
        cat >"$RUN/upstream-v2ray.json" <<EOF
{
  "log": { "loglevel": "warning", "access": "none" },
  "policy": { "levels": { "0": { "uplinkOnly": 0, "downlinkOnly": 0 } } },
  "inbounds": [ { "listen": "127.0.0.1", "port": $UPSTREAM_PORT, "protocol": "socks",
                  "settings": { "auth": "noauth", "udp": false } } ],
  "outbounds": [ { "protocol": "freedom" } ]
}
EOF
        ;;
esac

# ---------------------------------------------------------------- one lab per contender visit
SERVER_PID='' IPERF_PID='' STATS=''
UP_PIDS=()

start_upstreams() { # the upstream(s) in the gateway, listening before any front starts
    local u pid
    UP_PIDS=()
    for ((u = 0; u < ${#UP_PORTS[@]}; u++)); do
        case $UPSTREAM in
            ts-server) ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/upstream-$u.json" >"$RUN/upstream-$LAB-$u.log" 2>&1 & ;;
            danted) ip netns exec "$NS_GW" danted -f "$RUN/danted.conf" -N 1 -p "$RUN/danted-$LAB.pid" \
                >"$RUN/upstream-$LAB-$u.log" 2>&1 & ;;
            v2ray) ip netns exec "$NS_GW" v2ray -config "$RUN/upstream-v2ray.json" >"$RUN/upstream-$LAB-$u.log" 2>&1 & ;;
        esac
        pid=$!
        UP_PIDS+=("$pid")
        STARTED+=("$pid")
        wait_listen "${UP_PORTS[u]}" "$pid" "upstream-$LAB-$u" "$NS_GW"
    done
    ((UPSTREAMS > 1)) && in_gw nft -f "$RUN/upstreams.nft"
    return 0
}

lab_up() {        # lab_up NAME ROUND: fresh namespaces, the target's servers, and the upstream unless NAME is direct
    local name=$1 round=$2
    lab_ns_up
    # The gateway's loopback sees every front -> upstream connection: thousands a second, closed by the front.
    in_gw sysctl -qw net.ipv4.tcp_tw_reuse=1
    STATS=$RUN/$name-$round.server.json
    ip netns exec "$NS_TGT" "$LOADGEN" serve "$TGT_IP" "$HTTP_PORT" "$STATS" 3600 >"$RUN/$name-$round.server.log" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    wait_listen "$HTTP_PORT" "$SERVER_PID" "$name-$round.server" "$NS_TGT"
    expect_comm "$SERVER_PID" loadgen
    ip netns exec "$NS_TGT" iperf3 -s -B "$TGT_IP" -p "$IPERF_PORT" --idle-timeout 600 >"$RUN/$name-$round.iperf3-server.log" 2>&1 &
    IPERF_PID=$!
    STARTED+=("$IPERF_PID")
    wait_listen "$IPERF_PORT" "$IPERF_PID" "$name-$round.iperf3-server" "$NS_TGT"
    expect_comm "$IPERF_PID" iperf3
    [[ $name == direct ]] || start_upstreams
}

lab_down() {      # lab_down: stop the lab's processes by PID, then delete its namespaces
    local p
    for p in "${UP_PIDS[@]}" "$IPERF_PID" "$SERVER_PID"; do stop_pid "$p"; forget_pid "$p"; done
    UP_PIDS=() IPERF_PID='' SERVER_PID=''
    lab_ns_down
}

sum_over() {      # sum_over WHAT PID...: the sum of bench_lib.py WHAT (cpu, fds) over the PIDs' trees
    local what=$1 p s=0
    shift
    for p in "$@"; do s=$(awk -v a="$s" -v b="$("${LIB[@]}" "$what" "$p")" 'BEGIN {print a + b}'); done
    echo "$s"
}
upstream_cpu() { sum_over cpu "${UP_PIDS[@]}"; }
proxy_cpu() { if [[ -n $PROXY_PID ]]; then "${LIB[@]}" cpu "$PROXY_PID"; else echo 0; fi; }
others_now() { "${LIB[@]}" others $$; }
cores_between() { awk -v a="$1" -v b="$3" -v s="$2" -v e="$4" 'BEGIN {printf "%.2f", (b - a) / (e - s)}'; }

iperf_run() {     # iperf_run NAME ROUND STREAMS: one checked iperf3 run (client -> target), into results.jsonl
    local name=$1 round=$2 streams=$3 base=$RUN/$1-$2-iperf-P$3 rc=0 c0 c1 u0 u1 o0 t0 o1 t1 sample=-
    c0=$(proxy_cpu) u0=$(upstream_cpu)
    read -r o0 t0 <<<"$(others_now)"
    [[ -n $PROXY_PID ]] && { start_sampler "$PROXY_PID" "$base"; sample=$base.sample.json; }
    timeout $((DURATION + 30)) ip netns exec "$NS_CLI" iperf3 -c "$TGT_IP" -p "$IPERF_PORT" -t "$DURATION" -P "$streams" \
        -J --get-server-output --connect-timeout 5000 >"$base.json" 2>"$base.err" || rc=$?
    [[ -n $PROXY_PID ]] && stop_sampler "$base"
    read -r o1 t1 <<<"$(others_now)"
    c1=$(proxy_cpu) u1=$(upstream_cpu)
    "${LIB[@]}" iperf "$RUN/results.jsonl" "$base.json" "$name" "$round" "$streams" "$sample" "$(expected_peer "$name")" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" "$(awk -v a="$u0" -v b="$u1" 'BEGIN {print b - a}')" \
        "$(cores_between "$o0" "$t0" "$o1" "$t1")" || rc=$?
    ((rc == 0)) || die "$name iperf3 -P $streams round $round failed (rc $rc; bench/out/bench-run/${base##*/}.*)"
    sleep 0.5     # the iperf3 server goes back to listening
}

measure_level() { # measure_level NAME BASE LEVEL C0: the proxy's RSS, fds and CPU with LEVEL connections held
    local name=$1 base=$2 level=$3 c0=$4 c1 c2 rss pss nprocs fds
    sleep "$SETTLE"   # let the proxy finish what the last connections started, and settle (see SETTLE)
    c1=$(proxy_cpu)
    read -r rss pss nprocs <<<"$("${LIB[@]}" mem "$PROXY_PID")"
    fds=$(sum_over fds "$PROXY_PID")
    grep -E '^(Threads|VmRSS|RssAnon|RssFile|RssShmem):' "/proc/$PROXY_PID/status" >"$base-$level.status" || true
    cat "/proc/$PROXY_PID/smaps" >"$base-$level.smaps" 2>/dev/null || true   # which mappings grow per connection
    sleep 1       # the CPU an idle connection costs: none, if nothing polls
    c2=$(proxy_cpu)
    snap "$base-$level.snap.json"
    echo "{\"level\": $level, \"rss_kb\": $rss, \"pss_kb\": $pss, \"nprocs\": $nprocs, \"fds\": $fds," \
        "\"setup_cpu_s\": $(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}'), \"idle_cpu_s\": $(awk -v a="$c1" -v b="$c2" 'BEGIN {print b - a}')," \
        "\"idle_window_s\": 1, \"upstream_fds\": $(sum_over fds "${UP_PIDS[@]}"), \"ready\": [$(paste -sd, "$base-$level".ready-*.json)]}" \
        >"$base-$level.json"
}

hold_phase() {    # hold_phase NAME ROUND: idle connections held end to end at each level that fits; checked
    local name=$1 round=$2 base=$RUN/$1-$2-hold level total=0 need n k i pid fit per c0 idle_fds f1 levels=()
    local -a holders=()
    idle_fds=$(sum_over fds "$PROXY_PID")
    snap "$base.s0.json"
    for level in "${LEVELS_ASKED[@]}"; do
        if ((total > 0)); then
            # What fits, from the fds the proxy used per connection at the first level.
            f1=$(grep -o '"fds": [0-9]*' "$base-${levels[0]}.json" | grep -o '[0-9]*$')
            per=$(awk -v a="$f1" -v b="$idle_fds" -v n="${levels[0]}" 'BEGIN {p = (a - b) / n; print (p < 1 ? 1 : p)}')
            fit=$(awk -v l="$NOFILE" -v m="$FD_MARGIN" -v b="$idle_fds" -v p="$per" 'BEGIN {print int((l - m - b) / p / 500) * 500}')
            ((fit > HOLD_CAP)) && fit=$HOLD_CAP
            if ((level > fit)); then
                ((fit > total)) || break
                log "$name: $level held connections do not fit ($per fds per connection, limit $NOFILE); holding $fit"
                level=$fit
            fi
        fi
        c0=$(proxy_cpu)
        need=$((level - total))
        k=0
        while ((need > 0)); do   # holders of at most HOLD_CHUNK connections each, to stay under the fd limit
            n=$((need < HOLD_CHUNK ? need : HOLD_CHUNK))
            ip netns exec "$NS_CLI" "$LOADGEN" hold "$TGT_IP" "$HTTP_PORT" "$n" "$HOLD_SETUP_CONC" 300 \
                "$base-$level.ready-$k.json" >"$base-$level.holder-$k.json" 2>"$base-$level.holder-$k.err" &
            pid=$!
            holders+=("$pid")
            STARTED+=("$pid")
            for ((i = 0; i < 400; i++)); do   # the holder gives up setting up after 30 s; 40 s is its bound here
                [[ -f $base-$level.ready-$k.json ]] && break
                kill -0 "$pid" 2>/dev/null || { cat "$base-$level.holder-$k.err" >&2; die "$name: loadgen hold exited early"; }
                sleep 0.1
            done
            [[ -f $base-$level.ready-$k.json ]] || die "$name: loadgen hold was not ready in 40 s"
            need=$((need - n)) k=$((k + 1))
        done
        measure_level "$name" "$base" "$level" "$c0"
        levels+=("$level")
        total=$level
        log "$name: $level idle connections held ($(grep -o '"rss_kb": [0-9]*' "$base-$level.json" | head -1), $(grep -o '"fds": [0-9]*' "$base-$level.json"))"
    done
    for ((i = ${#holders[@]} - 1; i >= 0; i--)); do stop_pid "${holders[i]}"; forget_pid "${holders[i]}"; done
    # Wait (at most 15 s) until every held connection is gone at the target too, so the next visit starts clean.
    "${LIB[@]}" drained "$SERVER_PID" "$STATS" 15 || log "note: $name: connections still open at the target after 15 s"
    "${LIB[@]}" hold "$RUN/results.jsonl" "$base" "$name" "$round" "$idle_fds" "$NOFILE" "$(expected_peer "$name")" \
        "${LEVELS_ASKED[*]}" "${levels[@]}" \
        || die "$name round $round: the held connections failed their checks (bench/out/bench-run/${base##*/}*)"
}

probe_ts_with_server() { # the idle memory of transparentsocksd with the transparent path and the server on
    start_proxy ts-probe 1
    sleep 1
    idle_mem "$PROXY_PID" >"$RUN/ts-probe-idle.json"
    stop_proxy
}

visit() {         # visit NAME ROUND: a fresh lab; idle memory, throughput, short connections, held connections
    local name=$1 round=$2 s failures t_visit
    t_visit=$(date +%s)
    lab_up "$name" "$round"
    echo '{"rss_kb": 0, "pss_kb": 0, "nprocs": 0, "fds": 0}' >"$RUN/$name-$round-idle.json"
    if [[ $name != direct ]]; then
        [[ $name == ts-tproxy && $round == 1 ]] && probe_ts_with_server
        start_proxy "$name" "$round"
        sleep 1                                       # idle memory: listening, nothing connected yet
        idle_mem "$PROXY_PID" | sed "s/}\$/, \"fds\": $(sum_over fds "$PROXY_PID")}/" >"$RUN/$name-$round-idle.json"
    fi
    "${LIB[@]}" idle "$RUN/results.jsonl" "$RUN/$name-$round-idle.json" "$name" "$round"
    # Held connections first, so that their memory is that of a fresh process, not of one that the short
    # connections' garbage has grown.
    ((round <= HOLD_ROUNDS)) && [[ $name != direct ]] && hold_phase "$name" "$round"
    for s in "${STREAM_LIST[@]}"; do iperf_run "$name" "$round" "$s"; done
    rate_attempt "$name" "$round" 1
    if [[ $name == ts-* ]]; then  # at "information" a session is logged only when it fails
        failures=$(grep -c ' failed: ' "$RUN/$name-$round.log" || true)
        ((failures == 0)) || log "note: $name round $round logged $failures failed sessions (bench/out/bench-run/$name-$round.log)"
    fi
    stop_proxy
    lab_down
    log "$name round $round: $(($(date +%s) - t_visit)) s"
}

host_facts nftables
VERSIONS="$(iperf3 --version | head -n 1 | cut -d' ' -f1-2); $(dpkg-query -W -f='${Package} ${Version}; ' nftables redsocks v2ray dante-server 2>/dev/null)$(clang --version | head -n 1)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "lab per contender: client $CLI_IP -> gateway ($GW_CLI_IF $GW_CLI_IP | $GW_TGT_IF $GW_TGT_IP) -> target $TGT_IP"
log "$REPEATS round(s) x ${#PROXIES[@]} contenders (${PROXIES[*]}); upstream $UPSTREAM x ${#UP_PORTS[@]};" \
    "iperf3 -P ${STREAMS// /,} ${DURATION}s, short connections ${RATE_DURATION}s at $CONCURRENCY; holds at ${HOLD_LEVELS// /,}" \
    "(up to $LEVEL_MAX) in $HOLD_ROUNDS round(s)"
T_BEGIN=$(date +%s)
run_rounds visit
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

upstream_desc="transparentsocksd server mode (same build)"
((UPSTREAMS > 1)) && upstream_desc+=", $UPSTREAMS instances behind an nft numgen redirect (for the fds of the held connections)"
[[ $UPSTREAM == danted ]] && upstream_desc="danted (dante-server), -N 1"
[[ $UPSTREAM == v2ray ]] && upstream_desc="v2ray socks inbound, freedom outbound"
write_meta IDLE='{}' UPSTREAM_S="$UPSTREAM" UPSTREAM_DESC="$upstream_desc" STREAMS_S="$STREAMS" \
    RATE_S="$RATE_DURATION" CONC="$CONCURRENCY" MAXC="$MAX_CONNS" LEVELS_S="$HOLD_LEVELS" HOLD_ROUNDS_N="$HOLD_ROUNDS" \
    NOFILE_N="$NOFILE" NOFILE_START_S="$NOFILE_START" SKIPPED="$(skipped_json)" PEER_BUILDS="$PEER_VERSIONS" \
    LOAD_BEFORE_S="$LOAD_BEFORE" LOAD_AFTER_S="$LOAD_AFTER" BUILD_S=$((T_BUILT - T_START)) \
    WALL_S=$(($(date +%s) - T_BEGIN)) TOTAL_S=$(($(date +%s) - T_START)) \
    PROBE="$(cat "$RUN/ts-probe-idle.json" 2>/dev/null || echo null)" \
    LOADGEN_SHA="$(sha256sum "$BENCH/loadgen/loadgen.c" | cut -c1-12)"
"${LIB[@]}" report "$RUN/results.jsonl" "$RUN/meta.json" "$BENCH/results/bench-latest.json" >"$BENCH/results/bench-latest.md"
cat "$BENCH/results/bench-latest.md"
log "wrote bench/results/bench-latest.md and .json (raw: bench/out/bench-run/); $(($(date +%s) - T_START)) s in all"
