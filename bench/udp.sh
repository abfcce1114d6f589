#!/usr/bin/env bash
# UDP through the TRANSPARENT path: packets/s and loss (iperf3 -u), and fds and memory per UDP flow, for
# transparentsocksd (TPROXY) against ipt2socks and hev-socks5-tproxy, in one lab of three network namespaces, in
# the same run, through the same upstream SOCKS5 server (transparentsocksd's own server mode, UDP ASSOCIATE).
#
#   sudo bash bench/udp.sh                                        # DURATION=10 REPEATS=3 by default
#   sudo DURATION=5 REPEATS=1 BUILD=0 bash bench/udp.sh           # quick: reuse bench/out/daemon
#   sudo CONTENDERS="direct ts-tproxy ipt2socks" RATES=500M bash bench/udp.sh
#
#   client ns 198.51.100.2 --veth-- gateway ns 198.51.100.1 | 203.0.113.1 --veth-- target ns 203.0.113.2
#   (iperf3 -c -u, flow holder)     (ip_forward=1; the front proxy under test,     (iperf3 -s, UDP echo :7777)
#                                    upstream transparentsocksd server mode on 127.0.0.1:1081)
#
# Per contender and round: (round 1 only, unless FLOW_ROUNDS says more) a fresh proxy, its idle fds and RSS, then
# flows held open in STEPS (one datagram each, answered by the echo), fds and RSS at each step; then a fresh proxy
# for iperf3 -u forward and reverse. Every run is checked: the iperf3 server must see control and data come from
# 203.0.113.1 (the upstream) for a proxied run and from 198.51.100.2 for direct; the echo must see every flow's
# datagram from 203.0.113.1 and every answer must reach the client from 203.0.113.2:7777.
# Output: a markdown report on stdout and in bench/results/udp-latest.md, the same data as JSON in
# bench/results/udp-latest.json; logs and raw results in bench/out/udp-run/. Settings (environment): the ones below,
# and DURATION, REPEATS, BUILD, DOTNET, PYTHON (see lib.sh). See bench/README.md.
set -euo pipefail

DURATION=${DURATION:-5}    # seconds per iperf3 run (lib.sh's default is 10; this script makes 4 runs per visit)
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=udp
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
RUN=$OUT/udp-run
LIB=("$PYTHON" "$BENCH/udp_lib.py")
ALL_CONTENDERS=(direct ts-tproxy ipt2socks hev-socks5-tproxy)

CONTENDERS=${CONTENDERS:-${ALL_CONTENDERS[*]}} # a subset, in the order of round 1
RATES=${RATES:-0 100M}     # iperf3 -b, one set of runs each: 0 = as fast as the sender can; 100M = 10,400 pkt/s of 1200 B
LEN=${LEN:-1200}           # iperf3 -l: bytes per datagram
STEPS=${STEPS:-1000,10000} # flows held at once, measured at each step (the last is lowered to what fds allow)
FLOW_CONC=${FLOW_CONC:-200} # flows waiting for their answer at once, while the holder sets them up
FLOW_ROUNDS=${FLOW_ROUNDS:-1} # flow phases in this many of the rounds (from round 1)
UDP_TIMEOUT=${UDP_TIMEOUT:-180} # every proxy's (and the upstream's) UDP idle timeout, so held flows outlive a step
PEERS_BUILD=${PEERS_BUILD:-$BENCH/../../shared/peers/build.sh} # builds ipt2socks and hev-socks5-tproxy
QUIET_PCT=${QUIET_PCT:-25} # before each iperf3 run, wait (at most QUIET_WAIT s) until the host is less busy than this
QUIET_WAIT=${QUIET_WAIT:-3}
MAX_OTHERS=${MAX_OTHERS:-1.0} # an iperf3 run during which other processes used more cores than this is repeated ...
RETRIES=${RETRIES:-0}      # ... at most this many times (0: the host is rarely quiet); the report keeps the least disturbed attempt

NS_CLI=tsudp-$$-cli NS_GW=tsudp-$$-gw NS_TGT=tsudp-$$-tgt
GW_CLI_IF=tsb-cli GW_TGT_IF=tsb-tgt
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
IPERF_PORT=5201 ECHO_PORT=7777 UPSTREAM_PORT=1081 TS_PORT=12345 I2S_PORT=12347 HEV_PORT=12348
PEER_MARK=0x440 PEER_TABLE=100 # the policy route of the TPROXY peers (ipt2socks, hev-socks5-tproxy)

# ---------------------------------------------------------------- settings
check_common_env
parse_contenders
read -r -a RATE_LIST <<<"$RATES"
((${#RATE_LIST[@]})) || die "RATES is empty"
for r in "${RATE_LIST[@]}"; do [[ $r =~ ^[0-9]+[KMG]?$ ]] || die "RATES must be iperf3 -b values (0, 100M, 2G, ...)"; done
[[ $LEN =~ ^[0-9]+$ && $LEN -ge 16 && $LEN -le 1472 ]] || die "LEN must be 16..1472 (one datagram per 1500-byte frame)"
[[ $STEPS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "STEPS must be like 1000,10000"
[[ $FLOW_CONC =~ ^[0-9]+$ && $FLOW_CONC -ge 1 && $FLOW_CONC -le 2000 ]] || die "FLOW_CONC must be 1..2000"
[[ $FLOW_ROUNDS =~ ^[0-9]+$ && $FLOW_ROUNDS -le 10 ]] || die "FLOW_ROUNDS must be 0..10"
[[ $UDP_TIMEOUT =~ ^[0-9]+$ && $UDP_TIMEOUT -ge 30 && $UDP_TIMEOUT -le 3600 ]] || die "UDP_TIMEOUT must be 30..3600"
[[ $QUIET_PCT =~ ^[0-9]+$ && $QUIET_PCT -le 100 ]] || die "QUIET_PCT must be 0..100"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 ]] || die "QUIET_WAIT must be 0..600"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 5 ]] || die "RETRIES must be 0..5"
[[ $MAX_OTHERS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MAX_OTHERS must be a number of cores"
require_root "namespaces, nft, policy routing, transparent sockets"

# Open files. A front proxy holds about 2 fds per flow (the upstream association's TCP connection and its UDP
# socket), the upstream about 3 (client TCP connection, relay socket, outbound socket). The hard limit cannot be
# raised without CAP_SYS_RESOURCE, which a container may not have: then the last step is lowered until a front
# proxy fits, and the upstream is run as several instances (see UPSTREAMS below).
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=1048576
ulimit -Hn 1048576 2>/dev/null && hard=1048576
NOFILE=$hard
ulimit -Sn "$NOFILE"
IFS=, read -r -a STEP_LIST <<<"$STEPS"
fit=$(((NOFILE - 1000) / 2 / 500 * 500))
STEPS_ASKED=$STEPS
for i in "${!STEP_LIST[@]}"; do
    ((STEP_LIST[i] >= 1 && STEP_LIST[i] <= 100000)) || die "each of STEPS must be 1..100000"
    ((i == 0 || STEP_LIST[i] > STEP_LIST[i - 1])) || die "STEPS must increase"
    if ((STEP_LIST[i] > fit)); then
        log "note: $NOFILE open files per process allow about $fit flows in one front proxy; step ${STEP_LIST[i]} becomes $fit"
        STEP_LIST[i]=$fit
    fi
done
STEPS=$(IFS=,; echo "${STEP_LIST[*]}")
[[ $(tr , '\n' <<<"$STEPS" | sort -n | uniq -d) == "" ]] || die "STEPS=$STEPS_ASKED collapse to $STEPS under the fd limit"
BIG=${STEP_LIST[-1]}
UPSTREAMS=$(((4 * BIG + NOFILE - 1001) / (NOFILE - 1000)))   # 4 fds per association of margin
((UPSTREAMS >= 1)) || UPSTREAMS=1
((UPSTREAMS <= 8)) || die "the upstream would need $UPSTREAMS instances for $BIG flows; lower STEPS"

# ---------------------------------------------------------------- tools, the daemon, the C peers
install_packages iperf3 nftables iproute2 clang
require_tools iperf3 nft ip ss "$PYTHON"

if daemon_needs_build; then
    build_info=$(worktree_build_info)
    log "building transparentsocksd (NativeAOT, $build_info) into bench/out/daemon"
    # --artifacts-path keeps this build's obj/bin away from src/*/obj, which other builds of the tree use.
    publish_daemon "$REPO" "$build_info" --artifacts-path "$OUT/artifacts"
fi
[[ -x $DAEMON ]] || die "$DAEMON missing"

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

# ---------------------------------------------------------------- configs
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
write_ts_transparent_conf "$RUN/ts-tproxy.json" tproxy information \
    "\"udp\": true, \"udpTimeout\": $UDP_TIMEOUT, \"maxUdpFlows\": $((BIG * 2 > 16384 ? BIG * 2 : 16384))"
UP_PORTS=()
for ((u = 0; u < UPSTREAMS; u++)); do
    UP_PORTS+=($((UPSTREAM_PORT + u)))
    # The upstream: transparentsocksd's SOCKS5 server, direct outbound, no auth on loopback, UDP ASSOCIATE on.
    cat >"$RUN/upstream-$u.json" <<EOF
{
  "server": { "enabled": true, "listen": "127.0.0.1:$((UPSTREAM_PORT + u))", "allowPrivateDestinations": true,
              "udp": true, "udpTimeout": $UDP_TIMEOUT, "maxUdpAssociations": $((BIG + 1000)),
              "maxConnections": $((BIG + 1000)) },
  "control": { "socket": "$RUN/upstream-$u.sock" },
  "logging": { "level": "information" }
}
EOF
done
if ((UPSTREAMS > 1)); then
    map=
    for ((u = 0; u < UPSTREAMS; u++)); do map+="$u : ${UP_PORTS[u]}, "; done
    # One address for the front proxies; each new TCP connection (a UDP association's control connection) goes to
    # the next instance. The association's UDP goes to the relay port that instance answered with, untouched.
    cat >"$RUN/upstreams.nft" <<EOF
table ip udpbench_up {
  chain out {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.1 tcp dport $UPSTREAM_PORT redirect to :numgen inc mod $UPSTREAMS map { ${map%, } }
  }
}
EOF
fi
for peer in ipt2socks:$I2S_PORT hev-socks5-tproxy:$HEV_PORT; do
    cat >"$RUN/${peer%%:*}.nft" <<EOF
table ip udpbench {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    iifname "$GW_CLI_IF" meta l4proto tcp ip daddr 203.0.113.0/24 tproxy to 127.0.0.1:${peer##*:} meta mark set $PEER_MARK accept
    iifname "$GW_CLI_IF" meta l4proto udp ip daddr 203.0.113.0/24 tproxy to 127.0.0.1:${peer##*:} meta mark set $PEER_MARK accept
  }
}
EOF
done
# hev-socks5-tproxy: standard SOCKS5 UDP ASSOCIATE ("udp: 'udp'"; its other mode, 'tcp', is its own UDP-in-TCP
# extension, which only its own servers speak). "pipeline: true" as in conn-rate.sh (no 200 ms cork wait per
# connection). No "dns:" section, so it runs no DNS forwarder.
cat >"$RUN/hev-socks5-tproxy.yml" <<EOF
main:
  workers: 1
socks5:
  port: $UPSTREAM_PORT
  address: 127.0.0.1
  udp: 'udp'
  pipeline: true
tcp:
  port: $HEV_PORT
  address: 127.0.0.1
udp:
  port: $HEV_PORT
  address: 127.0.0.1
misc:
  log-file: stderr
  log-level: warn
  limit-nofile: $NOFILE
  udp-read-write-timeout: $((UDP_TIMEOUT * 1000))
EOF

# ---------------------------------------------------------------- the lab
in_gw() { ip netns exec "$NS_GW" "$@"; }   # foreground only: with & the PID would be a subshell's
for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
done
wire_lab

T_BEGIN=$(date +%s)
MAX_S=$((REPEATS * ${#PROXIES[@]} * (4 * ${#RATE_LIST[@]} * (DURATION + 8) + 300) + 900))   # the target's processes outlive any run
ip netns exec "$NS_TGT" iperf3 -s -p "$IPERF_PORT" --idle-timeout "$MAX_S" >"$RUN/iperf3-server.log" 2>&1 &
STARTED+=($!)
wait_listen "$IPERF_PORT" $! iperf3-server "$NS_TGT"
expect_comm $! iperf3
ip netns exec "$NS_TGT" "${LIB[@]}" echo "$TGT_IP" "$ECHO_PORT" "$MAX_S" >"$RUN/echo.log" 2>&1 &
ECHO_PID=$!
STARTED+=("$ECHO_PID")
for ((i = 0; i < 100; i++)); do
    ip netns exec "$NS_TGT" ss -lunH "sport = :$ECHO_PORT" | grep -q . && break
    kill -0 "$ECHO_PID" 2>/dev/null || die "the UDP echo exited at start (bench/out/udp-run/echo.log)"
    sleep 0.1
done
expect_comm "$ECHO_PID" "$PYTHON"

UP_PIDS=()
for ((u = 0; u < UPSTREAMS; u++)); do
    : >"$RUN/upstream-$u.log"
    ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/upstream-$u.json" >"$RUN/upstream-$u.log" 2>&1 &
    UP_PIDS+=($!)
    STARTED+=($!)
    wait_listen "${UP_PORTS[u]}" $! "upstream-$u" "$NS_GW"
    expect_comm $! transparentsocksd
done
((UPSTREAMS > 1)) && in_gw nft -f "$RUN/upstreams.nft"

up_cpu() { local p s=0; for p in "${UP_PIDS[@]}"; do s=$(awk -v a="$s" -v b="$("${LIB[@]}" cpu "$p")" 'BEGIN {print a + b}'); done; echo "$s"; }
up_fds() { local p s=0; for p in "${UP_PIDS[@]}"; do s=$((s + $("${LIB[@]}" fds "$p"))); done; echo "$s"; }

ts_state() {      # what transparentsocksd has installed in the gateway namespace, as one line
    local t r
    t=$(in_gw nft list tables 2>/dev/null | grep -c 'inet transparentsocks' || true)
    r=$(in_gw ip -4 rule show 2>/dev/null | grep -c 'lookup 5453' || true)
    echo "table=$t rules=$r"
}

PROXY_NAME=
start_proxy() {   # start_proxy NAME TAG: start it in the gateway namespace, wait until it diverts
    local name=$1 i logf=$RUN/$1-$2.log
    : >"$logf"    # the background job opens it only once forked; grep must not race it
    case $name in
        ts-tproxy)
            ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/$name.json" >"$logf" 2>&1 &
            PROXY_PID=$!
            for ((i = 0; i < 200; i++)); do
                grep -q "transparentsocksd started" "$logf" && break
                kill -0 "$PROXY_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start"; }
                sleep 0.1
            done
            grep -q "transparentsocksd started" "$logf" || die "$name did not log 'transparentsocksd started' in 20 s"
            expect_comm "$PROXY_PID" transparentsocksd
            [[ $(ts_state) == "table=1 rules=1" ]] || die "$name is up but its nft table/policy rules are not as expected: $(ts_state)"
            ;;
        ipt2socks)
            # Its defaults otherwise (one thread). -4: the lab is IPv4 only. -c: its UDP flow cache holds 256 by
            # default, which would evict most of the held flows; -o: the same idle timeout as everyone.
            ip netns exec "$NS_GW" "$IPT2SOCKS" -s 127.0.0.1 -p "$UPSTREAM_PORT" -b 127.0.0.1 -l "$I2S_PORT" -4 \
                -c $((BIG * 2)) -o "$UDP_TIMEOUT" -n "$NOFILE" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$I2S_PORT" "$PROXY_PID" "$name-$2" "$NS_GW"
            expect_comm "$PROXY_PID" ipt2socks
            ;;
        hev-socks5-tproxy)
            ip netns exec "$NS_GW" "$HEV" "$RUN/hev-socks5-tproxy.yml" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$HEV_PORT" "$PROXY_PID" "$name-$2" "$NS_GW"
            expect_comm "$PROXY_PID" hev-socks5-tproxy
            ;;
    esac
    case $name in
        ipt2socks | hev-socks5-tproxy)
            for ((i = 0; i < 50; i++)); do   # its UDP socket too, before anything is diverted to it
                in_gw ss -lunH "sport = :$([[ $name == ipt2socks ]] && echo $I2S_PORT || echo $HEV_PORT)" | grep -q . && break
                sleep 0.1
            done
            in_gw nft -f "$RUN/$name.nft"
            in_gw ip -4 rule add fwmark "$PEER_MARK" lookup "$PEER_TABLE"
            in_gw ip -4 route add local 0.0.0.0/0 dev lo table "$PEER_TABLE"
            ;;
    esac
    PROXY_NAME=$name
}

stop_proxy() {    # stop_proxy: stop the running proxy; nothing it (or we, for it) installed may be left
    local pid=$PROXY_PID name=$PROXY_NAME
    [[ -n $pid ]] || return 0
    case $name in
        ipt2socks | hev-socks5-tproxy)
            in_gw nft delete table ip udpbench
            in_gw ip -4 rule del fwmark "$PEER_MARK" lookup "$PEER_TABLE"
            in_gw ip -4 route flush table "$PEER_TABLE"
            ;;
    esac
    stop_pid "$pid"
    PROXY_PID='' PROXY_NAME=''
    [[ $name == ts-* && $(ts_state) != "table=0 rules=0" ]] && die "$name stopped but left state behind: $(ts_state)"
    [[ -z $(in_gw nft list tables 2>/dev/null | grep -v 'udpbench_up') ]] || die "an nft table is left in the gateway after $name"
}

expected_peer() { [[ $1 == direct ]] && echo "$CLI_IP" || echo "$GW_TGT_IP"; }

# ---------------------------------------------------------------- the flow phase
flow_phase() {    # flow_phase NAME ROUND: idle fds/RSS, then flows held in STEPS, fds/RSS at each
    local name=$1 round=$2 base=$RUN/$1-$2-flows pid step i steps_json="[" up_wait
    start_proxy "$name" "$round-flows"
    sleep 1
    read -r rss pss nprocs <<<"$("${LIB[@]}" mem "$PROXY_PID")"
    echo "{\"fds\": $("${LIB[@]}" fds "$PROXY_PID"), \"rss_kb\": $rss, \"pss_kb\": $pss, \"nprocs\": $nprocs," \
        "\"upstream_fds\": $(up_fds)}" >"$base.idle.json"
    ip netns exec "$NS_CLI" "${LIB[@]}" flows "$TGT_IP" "$ECHO_PORT" "$STEPS" "$FLOW_CONC" "$base" 400 \
        >"$base.out" 2>"$base.err" &
    pid=$!
    STARTED+=("$pid")
    for step in "${STEP_LIST[@]}"; do
        for ((i = 0; i < 3000; i++)); do   # 300 s: the holder's own bound for a step is shorter
            [[ -f $base.ready-$step.json ]] && break
            kill -0 "$pid" 2>/dev/null || { cat "$base.err" >&2; die "$name: the flow holder exited early"; }
            sleep 0.1
        done
        [[ -f $base.ready-$step.json ]] || die "$name: $step flows were not set up in 300 s"
        sleep 1                            # let the proxy finish what the last flows started
        read -r rss pss nprocs <<<"$("${LIB[@]}" mem "$PROXY_PID")"
        grep -E '^(Threads|VmRSS|RssAnon|RssFile):' "/proc/$PROXY_PID/status" >"$base.status-$step" || true
        ls -l "/proc/$PROXY_PID/fd" 2>/dev/null | awk '{print $NF}' | sed 's/:\[.*//' | sort | uniq -c >"$base.fdkinds-$step" || true
        steps_json+="{\"step\": $step, \"fds\": $("${LIB[@]}" fds "$PROXY_PID"), \"rss_kb\": $rss, \"pss_kb\": $pss,"
        steps_json+=" \"upstream_fds\": $(up_fds), \"ready\": $(cat "$base.ready-$step.json")},"
        touch "$base.go-$step"
    done
    echo "${steps_json%,}]" >"$base.steps.json"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$pid"
    "${LIB[@]}" flowrec "$RUN/results.jsonl" "$base" "$name" "$round" "$(expected_peer "$name")" "$TGT_IP:$ECHO_PORT" \
        || die "$name round $round: the flow phase failed its checks (bench/out/udp-run/$name-$round-flows.*)"
    stop_proxy
    # The upstream frees an association when its TCP connection closes: wait (at most 15 s) until it is back.
    up_wait=$(grep -o '"upstream_fds": [0-9]*' "$base.idle.json" | grep -o '[0-9]*$')
    for ((i = 0; i < 150; i++)); do (($(up_fds) <= up_wait + 10)) && break; sleep 0.1; done
    (($(up_fds) <= up_wait + 10)) || log "note: the upstream still holds $(up_fds) fds (idle: $up_wait) after $name's flows"
}

# ---------------------------------------------------------------- iperf3 -u
BUSY=()
OTHERS=
gw_rcvbuf_errors() {  # UDP datagrams the gateway's sockets dropped because their receive buffer was full, so far
    in_gw awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

run_attempt() {   # run_attempt NAME RATE fwd|rev ROUND ATTEMPT: one checked iperf3 -u run, appended to results.jsonl
    local name=$1 rate=$2 dir=$3 round=$4 attempt=$5 base=$RUN/$1-$2-$3-$4-$5 rc=0 busy o0 t0 o1 t1 c0=0 c1=0 u0 u1 sample=-
    local g0 g1
    local -a cmd=(iperf3 -c "$TGT_IP" -p "$IPERF_PORT" -u -b "$rate" -l "$LEN" -t "$DURATION" -J --get-server-output
        --connect-timeout 5000)
    [[ $dir == rev ]] && cmd+=(-R)
    busy=$("${LIB[@]}" quiet "$QUIET_PCT" "$QUIET_WAIT")
    BUSY+=("$busy")
    [[ -n $PROXY_PID ]] && c0=$("${LIB[@]}" cpu "$PROXY_PID")
    u0=$(up_cpu)
    g0=$(gw_rcvbuf_errors)
    read -r o0 t0 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && { start_sampler "$PROXY_PID" "$base"; sample=$base.sample.json; }
    timeout $((DURATION + 30)) ip netns exec "$NS_CLI" "${cmd[@]}" >"$base.json" 2>"$base.err" || rc=$?
    [[ -n $PROXY_PID ]] && stop_sampler "$base"
    read -r o1 t1 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && c1=$("${LIB[@]}" cpu "$PROXY_PID")
    u1=$(up_cpu)
    g1=$(gw_rcvbuf_errors)
    OTHERS=$(awk -v a="$o0" -v b="$o1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", (b - a) / (e - s)}')
    "${LIB[@]}" run "$RUN/results.jsonl" "$base.json" "$name" "$rate" "$dir" "$round" "$sample" "$(expected_peer "$name")" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" "$(awk -v a="$u0" -v b="$u1" 'BEGIN {print b - a}')" \
        "$busy" "$OTHERS" "$attempt" $((g1 - g0)) || rc=$?
    ((rc == 0)) || die "$name -b $rate $dir round $round failed (rc $rc; see bench/out/udp-run/$name-$rate-$dir-$round-$attempt.*)"
    sleep 1       # let the iperf3 server go back to listening
}

run_one() {       # run_one NAME RATE fwd|rev ROUND: repeat a run (at most RETRIES times) that other work disturbed
    local attempt
    for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
        run_attempt "$1" "$2" "$3" "$4" "$attempt"
        awk -v o="$OTHERS" -v m="$MAX_OTHERS" 'BEGIN {exit !(o <= m)}' && return 0
        ((attempt <= RETRIES)) && log "$1 -b $2 $3 round $4: other processes used $OTHERS cores during the run; repeating it"
    done
    return 0
}

visit() {         # visit NAME ROUND: the flow phase (in the first FLOW_ROUNDS rounds), then iperf3 on a fresh proxy
    local name=$1 round=$2 t_visit n rate
    t_visit=$(date +%s)
    if [[ $name != direct ]]; then
        ((round <= FLOW_ROUNDS)) && flow_phase "$name" "$round"
        start_proxy "$name" "$round"
    fi
    for rate in "${RATE_LIST[@]}"; do
        run_one "$name" "$rate" fwd "$round"
        run_one "$name" "$rate" rev "$round"
    done
    if [[ $name == ts-* ]]; then  # at "information" a flow is logged only when something fails
        n=$(grep -ciE 'fail|error|warn' "$RUN/$name-$round.log" || true)
        ((n == 0)) || log "note: $name round $round logged $n lines with fail/error/warn (bench/out/udp-run/$name-$round.log)"
    fi
    stop_proxy
    log "$name round $round: $(($(date +%s) - t_visit)) s"
}

host_facts nftables
VERSIONS+="; upstream: transparentsocksd server mode (same build) x $UPSTREAMS"
log "lab: $NS_CLI $CLI_IP -> $NS_GW ($GW_CLI_IF $GW_CLI_IP | $GW_TGT_IF $GW_TGT_IP) -> $NS_TGT $TGT_IP"
log "$REPEATS round(s) x ${#PROXIES[@]} contenders (${PROXIES[*]}): iperf3 -u -l $LEN -b each of ($RATES), ${DURATION}s fwd + rev;" \
    "flows in steps $STEPS (rounds 1..$FLOW_ROUNDS); upstream: $UPSTREAMS transparentsocksd server instance(s)"
sleep 1
upstream_idle=$(idle_mem "${UP_PIDS[0]}")
run_rounds visit

skipped_json="{"
for c in "${!SKIPPED[@]}"; do skipped_json+="\"$c\": \"${SKIPPED[$c]//\"/\'}\","; done
skipped_json="${skipped_json%,}}"
peer_versions="ipt2socks $(basename "$(dirname "${IPT2SOCKS:-/-/x}")" | sed 's/^ipt2socks-//'); hev-socks5-tproxy $(basename "$(dirname "$(dirname "${HEV:-/-/-/x}")")" | sed 's/^hev-socks5-tproxy-//')"
write_meta IDLE='{}' BUSY="${BUSY[*]}" MAX_OTHERS_C="$MAX_OTHERS" RETRIES_N="$RETRIES" QUIET="$QUIET_PCT $QUIET_WAIT" \
    RATES_S="$RATES" LEN_B="$LEN" STEPS_S="$STEPS" STEPS_ASKED_S="$STEPS_ASKED" FLOW_CONC_N="$FLOW_CONC" \
    UPSTREAM_S="transparentsocksd server mode (UDP ASSOCIATE, direct outbound)" UPSTREAMS_N="$UPSTREAMS" \
    NOFILE_N="$NOFILE" UDP_TIMEOUT_S="$UDP_TIMEOUT" SKIPPED="$skipped_json" PEER_BUILDS="$peer_versions" \
    UPSTREAM_IDLE="$upstream_idle" WALL_S=$(($(date +%s) - T_BEGIN))
"${LIB[@]}" report "$RUN/results.jsonl" "$RUN/meta.json" "$BENCH/results/udp-latest.json" >"$BENCH/results/udp-latest.md"
cat "$BENCH/results/udp-latest.md"
log "wrote bench/results/udp-latest.md and .json (raw: bench/out/udp-run/)"
