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

GW_CLI_IF=tsb-cli GW_TGT_IF=tsb-tgt
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
HTTP_PORT=80 DANTED_PORT=1080 TS_PORT=12345 RS_PORT=12346 I2S_PORT=12347 HEV_PORT=12348
PEER_MARK=0x440 PEER_TABLE=100 # the policy route of the TPROXY peers (ipt2socks, hev-socks5-tproxy)
HOLD_SETUP_CONC=100        # idle connections being set up at once

# ---------------------------------------------------------------- settings
check_common_env
read -r -a PROXIES <<<"$CONTENDERS"
((${#PROXIES[@]})) || die "CONTENDERS is empty"
declare -A SEEN=()
for c in "${PROXIES[@]}"; do
    [[ " ${ALL_CONTENDERS[*]} " == *" $c "* ]] || die "unknown contender '$c' (known: ${ALL_CONTENDERS[*]})"
    [[ -z ${SEEN[$c]:-} ]] || die "contender '$c' is listed twice"
    SEEN[$c]=1
done
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

declare -A SKIPPED=()
IPT2SOCKS=${IPT2SOCKS:-} HEV=${HEV:-}
if [[ " ${PROXIES[*]} " == *" ipt2socks "* || " ${PROXIES[*]} " == *" hev-socks5-tproxy "* ]]; then
    if [[ -z $IPT2SOCKS || -z $HEV ]]; then
        peers_out=
        if [[ -f $PEERS_BUILD ]]; then
            log "building the C peers with $PEERS_BUILD (once; it keeps its builds)"
            peers_out=$(timeout 600 bash "$PEERS_BUILD" 2>"$OUT/peers-build.log") \
                || log "note: $PEERS_BUILD failed (bench/out/peers-build.log)"
        else
            log "note: $PEERS_BUILD not found"
        fi
        [[ -n $IPT2SOCKS ]] || IPT2SOCKS=$(grep -m1 '/ipt2socks$' <<<"$peers_out" || true)
        [[ -n $HEV ]] || HEV=$(grep -m1 '/hev-socks5-tproxy$' <<<"$peers_out" || true)
    fi
    [[ -n $IPT2SOCKS && -x $IPT2SOCKS ]] || SKIPPED[ipt2socks]="no binary (PEERS_BUILD=$PEERS_BUILD, IPT2SOCKS=$IPT2SOCKS)"
    [[ -n $HEV && -x $HEV ]] || SKIPPED[hev-socks5-tproxy]="no binary (PEERS_BUILD=$PEERS_BUILD, HEV=$HEV)"
    kept=()
    for c in "${PROXIES[@]}"; do
        if [[ -n ${SKIPPED[$c]:-} ]]; then log "note: skipping $c: ${SKIPPED[$c]}"; else kept+=("$c"); fi
    done
    PROXIES=("${kept[@]}")
    ((${#PROXIES[@]})) || die "no contender left"
fi

expect_comm() {   # expect_comm PID NAME: PID must be the program itself (ip netns exec execs it), not a wrapper
    local comm
    comm=$(tr -d '\0' 2>/dev/null <"/proc/$1/comm" || true)
    [[ ${2:0:15} == "$comm" ]] || die "pid $1 is '$comm', expected $2"
}

forget_pid() {    # forget_pid PID: drop a stopped PID from STARTED, so that cleanup never signals a reused PID
    local p kept=()
    for p in "${STARTED[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
    STARTED=("${kept[@]}")
}

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
for peer in ipt2socks:$I2S_PORT hev-socks5-tproxy:$HEV_PORT; do
    cat >"$RUN/${peer%%:*}.nft" <<EOF
table ip crbench {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    iifname "$GW_CLI_IF" meta l4proto tcp ip daddr 203.0.113.0/24 tproxy to 127.0.0.1:${peer##*:} meta mark set $PEER_MARK accept
  }
}
EOF
done
# hev-socks5-tproxy with its defaults except one: "pipeline: true". Without it, it sends the SOCKS5 greeting with
# MSG_MORE and then waits for the server's answer, so the greeting sits in the socket for the kernel's 200 ms cork
# timeout: every connection took 200 ms, and 50 in flight made 240 connections a second. Pipelined, it sends greeting
# and request in one write, which danted handles.
cat >"$RUN/hev-socks5-tproxy.yml" <<EOF
main:
  workers: 1
socks5:
  port: $DANTED_PORT
  address: 127.0.0.1
  udp: 'udp'
  pipeline: true
tcp:
  port: $HEV_PORT
  address: 127.0.0.1
misc:
  log-file: stderr
  log-level: warn
  limit-nofile: $NOFILE
EOF

# ---------------------------------------------------------------- one lab per contender visit
LAB=0 NS_CLI= NS_GW= NS_TGT= SERVER_PID= DANTED_PID=
in_gw() { ip netns exec "$NS_GW" "$@"; }   # foreground only: with & the PID would be a subshell's

lab_up() {        # lab_up NAME ROUND: three fresh namespaces, the target server, and danted unless NAME is direct
    local name=$1 round=$2 ns dev
    LAB=$((LAB + 1))
    NS_CLI=tsbench-$$-$LAB-cli NS_GW=tsbench-$$-$LAB-gw NS_TGT=tsbench-$$-$LAB-tgt
    for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
        ip netns add "$ns"
        NAMESPACES+=("$ns")
        ip -n "$ns" link set lo up
        # Short connections: a wide port range, so that the client (and danted) do not wrap it within one run.
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    done
    wire_lab

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
    local ns kept=()
    [[ -n $DANTED_PID ]] && { stop_pid "$DANTED_PID"; forget_pid "$DANTED_PID"; }
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    DANTED_PID= SERVER_PID=
    for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do ip netns del "$ns" || die "could not delete netns $ns"; done
    for ns in "${NAMESPACES[@]}"; do [[ $ns == "$NS_CLI" || $ns == "$NS_GW" || $ns == "$NS_TGT" ]] || kept+=("$ns"); done
    NAMESPACES=("${kept[@]}")
}

ts_state() {      # what transparentsocksd has installed in the gateway namespace, as one line
    local t r
    t=$(in_gw nft list tables 2>/dev/null | grep -c 'inet transparentsocks' || true)
    r=$(in_gw ip -4 rule show 2>/dev/null | grep -c 'lookup 5453' || true)
    echo "table=$t rules=$r"
}

PROXY_NAME=
start_proxy() {   # start_proxy NAME ROUND: start it in the gateway namespace, wait until it diverts
    local name=$1 round=$2 i logf=$RUN/$1-$2.log
    : >"$logf"    # the background job opens it only once forked; grep must not race it
    case $name in
        ts-tproxy | ts-redirect | ts-nosniff | ts-pipelined)
            ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/$name.json" >"$logf" 2>&1 &
            PROXY_PID=$!
            for ((i = 0; i < 200; i++)); do
                grep -q "transparentsocksd started" "$logf" && break
                kill -0 "$PROXY_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start"; }
                sleep 0.1
            done
            grep -q "transparentsocksd started" "$logf" || die "$name did not log 'transparentsocksd started' in 20 s"
            expect_comm "$PROXY_PID" transparentsocksd
            # One policy rule in both modes: TPROXY's for TCP and UDP, or under REDIRECT the UDP TPROXY's (udp is on by default).
            [[ $(ts_state) == "table=1 rules=1" ]] \
                || die "$name is up but its nft table/policy rules are not as expected: $(ts_state)"
            ;;
        redsocks)
            ip netns exec "$NS_GW" redsocks -c "$RUN/redsocks.conf" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$RS_PORT" "$PROXY_PID" "$name-$round" "$NS_GW"
            expect_comm "$PROXY_PID" redsocks
            in_gw nft -f "$RUN/redsocks.nft"
            ;;
        ipt2socks)
            # Its defaults otherwise: one thread, TPROXY for TCP. -T -4: TCP and IPv4 only, as the lab is.
            ip netns exec "$NS_GW" "$IPT2SOCKS" -s 127.0.0.1 -p "$DANTED_PORT" -b 127.0.0.1 -l "$I2S_PORT" -T -4 \
                -n "$NOFILE" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$I2S_PORT" "$PROXY_PID" "$name-$round" "$NS_GW"
            expect_comm "$PROXY_PID" ipt2socks
            ;;
        hev-socks5-tproxy)
            ip netns exec "$NS_GW" "$HEV" "$RUN/hev-socks5-tproxy.yml" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$HEV_PORT" "$PROXY_PID" "$name-$round" "$NS_GW"
            expect_comm "$PROXY_PID" hev-socks5-tproxy
            ;;
    esac
    case $name in
        ipt2socks | hev-socks5-tproxy)
            in_gw nft -f "$RUN/$name.nft"
            in_gw ip -4 rule add fwmark "$PEER_MARK" lookup "$PEER_TABLE"
            in_gw ip -4 route add local 0.0.0.0/0 dev lo table "$PEER_TABLE"
            ;;
    esac
    PROXY_NAME=$name
}

stop_proxy() {    # stop_proxy: stop the running proxy; transparentsocksd must have removed what it installed
    local pid=$PROXY_PID name=$PROXY_NAME
    [[ -n $pid ]] || return 0
    stop_pid "$pid"
    PROXY_PID='' PROXY_NAME=''
    case $name in
        ts-*) [[ $(ts_state) == "table=0 rules=0" ]] || die "$name stopped but left state behind: $(ts_state)" ;;
    esac
}

snap() {          # snap OUT: the target server's counters, as of now
    "${LIB[@]}" snap "$SERVER_PID" "$STATS" "$1"
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

BUSY=()
OTHERS=
rate_attempt() {  # rate_attempt NAME ROUND ATTEMPT: one short-connection run
    local name=$1 round=$2 attempt=$3 base=$RUN/$1-$2-rate-$3 rc=0 busy o0 t0 o1 t1 c0=0 c1=0 d0=0 d1=0
    busy=$("${LIB[@]}" quiet "$QUIET_PCT" "$QUIET_WAIT")
    BUSY+=("$busy")
    snap "$base.s0.json"
    [[ -n $PROXY_PID ]] && c0=$("${LIB[@]}" cpu "$PROXY_PID")
    [[ -n $DANTED_PID ]] && d0=$("${LIB[@]}" cpu "$DANTED_PID")
    read -r o0 t0 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && start_sampler "$PROXY_PID" "$base"
    timeout $((DURATION + 30)) ip netns exec "$NS_CLI" "$LOADGEN" rate "$TGT_IP" "$HTTP_PORT" "$CONCURRENCY" \
        "$DURATION" "$MAX_CONNS" >"$base.json" 2>"$base.err" || rc=$?
    [[ -n $PROXY_PID ]] && stop_sampler "$base"
    read -r o1 t1 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && c1=$("${LIB[@]}" cpu "$PROXY_PID")
    [[ -n $DANTED_PID ]] && d1=$("${LIB[@]}" cpu "$DANTED_PID")
    ((rc == 0)) || { cat "$base.err" >&2; die "$name round $round: loadgen rate failed (rc $rc)"; }
    "${LIB[@]}" drained "$SERVER_PID" "$STATS" 10 || log "note: $name: connections still open at the target after 10 s"
    snap "$base.s1.json"
    OTHERS=$(awk -v a="$o0" -v b="$o1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", (b - a) / (e - s)}')
    "${LIB[@]}" rate "$RUN/results.jsonl" "$base" "$name" "$round" "$attempt" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" "$(awk -v a="$d0" -v b="$d1" 'BEGIN {print b - a}')" \
        "$busy" "$OTHERS" "$(expected_peer "$name")" \
        || die "$name round $round: the run failed its checks (bench/out/conn-rate-run/$name-$round-rate-$attempt.*)"
}

expected_peer() { [[ $1 == direct ]] && echo "$CLI_IP" || echo "$GW_TGT_IP"; }

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

skipped_json="{"
for c in "${!SKIPPED[@]}"; do skipped_json+="\"$c\": \"${SKIPPED[$c]//\"/\'}\","; done
skipped_json="${skipped_json%,}}"
peer_versions="ipt2socks $(basename "$(dirname "${IPT2SOCKS:-/-/x}")" | sed 's/^ipt2socks-//'); hev-socks5-tproxy $(basename "$(dirname "$(dirname "${HEV:-/-/-/x}")")" | sed 's/^hev-socks5-tproxy-//')"
write_meta IDLE='{}' BUSY="${BUSY[*]}" MAX_OTHERS_C="$MAX_OTHERS" RETRIES_N="$RETRIES" \
    QUIET="$QUIET_PCT $QUIET_WAIT" CONC="$CONCURRENCY" MAXC="$MAX_CONNS" IDLE_N="$IDLE_CONNS" SKIPPED="$skipped_json" \
    PEER_BUILDS="$peer_versions" WALL_S=$(($(date +%s) - T_BEGIN)) LOADGEN_SHA="$(sha256sum "$BENCH/loadgen/loadgen.c" | cut -c1-12)"
"${LIB[@]}" report "$RUN/results.jsonl" "$RUN/meta.json" "$BENCH/results/conn-rate-latest.json" \
    >"$BENCH/results/conn-rate-latest.md"
cat "$BENCH/results/conn-rate-latest.md"
log "wrote bench/results/conn-rate-latest.md and .json (raw: bench/out/conn-rate-run/)"
