# shellcheck shell=bash
# The per-contender lab of the transparent path that conn-rate.sh and bench.sh share: fresh namespaces, the C peers'
# build, their nft rules and configs, and starting and stopping one front proxy in the gateway. Sourced after
# lib.sh, never run. Before calling anything here a script sets (besides what lib.sh wants):
#   NS_PREFIX       the first part of the namespace names; the script's PID and a counter follow
#   UPSTREAM_PORT   where the front proxies find the upstream SOCKS5 server, on 127.0.0.1 in the gateway
#   NOFILE          the open-file limit the C peers are told to raise to
#   NFT_TABLE       the name of the script's own nft table for the peers' rules
#   PEERS_BUILD     the script that builds ipt2socks and hev-socks5-tproxy (shared/peers/build.sh)
#   TS_PORT RS_PORT I2S_PORT HEV_PORT V2RAY_PORT, GW_CLI_IF GW_TGT_IF, CLI_IP GW_CLI_IP GW_TGT_IP TGT_IP
#   for rate_attempt: LOADGEN, HTTP_PORT, CONCURRENCY, RATE_DURATION, MAX_CONNS, QUIET_PCT, QUIET_WAIT (0: no wait),
#                   SERVER_PID and STATS (the target's loadgen serve), an upstream_cpu function, and LIB answering
#                   quiet, others, cpu, snap, drained and rate (conn_rate_lib.py's)
# and writes the front proxies' configs into $RUN: $RUN/<ts contender>.json (write_ts_transparent_conf),
# write_redsocks_conf, write_peer_confs.

PEER_MARK=0x440 PEER_TABLE=100 # the policy route of the TPROXY peers (ipt2socks, hev-socks5-tproxy, v2ray)
V2RAY_OUT_MARK=0x441           # v2ray's outbound sockets, which its nft rule lets by
LAB=0 NS_CLI='' NS_GW='' NS_TGT=''

in_gw() { ip netns exec "$NS_GW" "$@"; }   # foreground only: with & the PID would be a subshell's

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

declare -A SKIPPED=()
IPT2SOCKS=${IPT2SOCKS:-} HEV=${HEV:-}
PEER_VERSIONS=
resolve_peers() { # resolve_peers: build ipt2socks and hev-socks5-tproxy if PROXIES has them; drop (and note) the absent
    local c kept=() peers_out=
    [[ " ${PROXIES[*]} " == *" ipt2socks "* || " ${PROXIES[*]} " == *" hev-socks5-tproxy "* ]] || return 0
    if [[ -z $IPT2SOCKS || -z $HEV ]]; then
        if [[ -f ${PEERS_BUILD:?} ]]; then
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
    for c in "${PROXIES[@]}"; do
        if [[ -n ${SKIPPED[$c]:-} ]]; then log "note: skipping $c: ${SKIPPED[$c]}"; else kept+=("$c"); fi
    done
    PROXIES=("${kept[@]}")
    ((${#PROXIES[@]})) || die "no contender left"
    # The builds are named after the upstream commits they are made from. (Read by the scripts that source this.)
    # shellcheck disable=SC2034
    PEER_VERSIONS="ipt2socks $(basename "$(dirname "${IPT2SOCKS:-/-/x}")" | sed 's/^ipt2socks-//'); hev-socks5-tproxy $(basename "$(dirname "$(dirname "${HEV:-/-/-/x}")")" | sed 's/^hev-socks5-tproxy-//')"
}

skipped_json() {  # the SKIPPED notes as one JSON object
    local c out="{"
    for c in "${!SKIPPED[@]}"; do out+="\"$c\": \"${SKIPPED[$c]//\"/\'}\","; done
    echo "${out%,}}"
}

write_peer_confs() { # the TPROXY rules of ipt2socks, hev-socks5-tproxy and v2ray, hev's and v2ray's configs, into $RUN
    local peer
    for peer in ipt2socks:$I2S_PORT hev-socks5-tproxy:$HEV_PORT v2ray:${V2RAY_PORT:-12349}; do
        cat >"$RUN/${peer%%:*}.nft" <<EOF
table ip $NFT_TABLE {
  chain pre {
    type filter hook prerouting priority mangle; policy accept;
    meta mark $V2RAY_OUT_MARK return
    iifname "$GW_CLI_IF" meta l4proto tcp ip daddr 203.0.113.0/24 tproxy to 127.0.0.1:${peer##*:} meta mark set $PEER_MARK accept
  }
}
EOF
    done
    # hev-socks5-tproxy with its defaults except one: "pipeline: true". Without it, it sends the SOCKS5 greeting with
    # MSG_MORE and then waits for the server's answer, so the greeting sits in the socket for the kernel's 200 ms cork
    # timeout: every connection took 200 ms, and 50 in flight made 240 connections a second. Pipelined, it sends
    # greeting and request in one write, which danted and transparentsocksd's server handle.
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
misc:
  log-file: stderr
  log-level: warn
  limit-nofile: $NOFILE
EOF
    # v2ray's dokodemo-door as a TPROXY inbound: followRedirect takes the original destination from the socket's
    # local address, sockopt.tproxy makes its listener IP_TRANSPARENT. The outbound marks its sockets, so the rule
    # above never takes them for clients (they go to 127.0.0.1 and would not reach it anyway). The policy: by default
    # v2ray keeps a connection open 2 s after the target closed it (uplinkOnly; 5 s downlinkOnly the other way), and
    # loadgen waits for the close, so 50 connections in flight made 50 a second; 0 closes it when one side has.
    cat >"$RUN/v2ray.json" <<EOF
{
  "log": { "loglevel": "warning", "access": "none" },
  "policy": { "levels": { "0": { "uplinkOnly": 0, "downlinkOnly": 0 } } },
  "inbounds": [ { "listen": "127.0.0.1", "port": ${V2RAY_PORT:-12349}, "protocol": "dokodemo-door",
                  "settings": { "network": "tcp", "followRedirect": true },
                  "streamSettings": { "sockopt": { "tproxy": "tproxy" } } } ],
  "outbounds": [ { "protocol": "socks",
                   "settings": { "servers": [ { "address": "127.0.0.1", "port": $UPSTREAM_PORT } ] },
                   "streamSettings": { "sockopt": { "mark": $((V2RAY_OUT_MARK)) } } } ]
}
EOF
}

lab_ns_up() {     # lab_ns_up: three fresh namespaces wired as client -> gateway -> target
    local ns
    LAB=$((LAB + 1))
    NS_CLI=$NS_PREFIX-$$-$LAB-cli NS_GW=$NS_PREFIX-$$-$LAB-gw NS_TGT=$NS_PREFIX-$$-$LAB-tgt
    for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
        ip netns add "$ns"
        NAMESPACES+=("$ns")
        ip -n "$ns" link set lo up
        # Short connections: a wide port range, so that the client (and the upstream) do not wrap it within one run.
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    done
    wire_lab
}

lab_ns_down() {   # lab_ns_down: delete the lab's namespaces (their veths, rules and nft tables go with them)
    local ns kept=()
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
        ts-*)
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
            ip netns exec "$NS_GW" "$IPT2SOCKS" -s 127.0.0.1 -p "$UPSTREAM_PORT" -b 127.0.0.1 -l "$I2S_PORT" -T -4 \
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
        v2ray)
            ip netns exec "$NS_GW" v2ray -config "$RUN/v2ray.json" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "${V2RAY_PORT:-12349}" "$PROXY_PID" "$name-$round" "$NS_GW"
            expect_comm "$PROXY_PID" v2ray
            ;;
        *) die "start_proxy: unknown contender $name" ;;
    esac
    case $name in
        ipt2socks | hev-socks5-tproxy | v2ray)
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

# ---------------------------------------------------------------- short connections
snap() {          # snap OUT: the target server's counters, as of now
    "${LIB[@]}" snap "$SERVER_PID" "$STATS" "$1"
}

expected_peer() { [[ $1 == direct ]] && echo "$CLI_IP" || echo "$GW_TGT_IP"; }

BUSY=()
OTHERS=           # set by rate_attempt: cores that other processes on the host used during the run
rate_attempt() {  # rate_attempt NAME ROUND ATTEMPT: one checked run of short connections, appended to results.jsonl
    local name=$1 round=$2 attempt=$3 base=$RUN/$1-$2-rate-$3 rc=0 busy=-1 o0 t0 o1 t1 c0=0 c1=0 u0 u1
    ((QUIET_WAIT == 0)) || busy=$("${LIB[@]}" quiet "$QUIET_PCT" "$QUIET_WAIT")
    BUSY+=("$busy")
    snap "$base.s0.json"
    [[ -n $PROXY_PID ]] && c0=$("${LIB[@]}" cpu "$PROXY_PID")
    u0=$(upstream_cpu)
    read -r o0 t0 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && start_sampler "$PROXY_PID" "$base"
    timeout $((RATE_DURATION + 30)) ip netns exec "$NS_CLI" "$LOADGEN" rate "$TGT_IP" "$HTTP_PORT" "$CONCURRENCY" \
        "$RATE_DURATION" "$MAX_CONNS" >"$base.json" 2>"$base.err" || rc=$?
    [[ -n $PROXY_PID ]] && stop_sampler "$base"
    read -r o1 t1 <<<"$("${LIB[@]}" others $$)"
    [[ -n $PROXY_PID ]] && c1=$("${LIB[@]}" cpu "$PROXY_PID")
    u1=$(upstream_cpu)
    ((rc == 0)) || { cat "$base.err" >&2; die "$name round $round: loadgen rate failed (rc $rc)"; }
    "${LIB[@]}" drained "$SERVER_PID" "$STATS" 10 || log "note: $name: connections still open at the target after 10 s"
    snap "$base.s1.json"
    OTHERS=$(awk -v a="$o0" -v b="$o1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", (b - a) / (e - s)}')
    "${LIB[@]}" rate "$RUN/results.jsonl" "$base" "$name" "$round" "$attempt" \
        "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" "$(awk -v a="$u0" -v b="$u1" 'BEGIN {print b - a}')" \
        "$busy" "$OTHERS" "$(expected_peer "$name")" \
        || die "$name round $round: the run failed its checks (bench/${RUN#"$BENCH"/}/$name-$round-rate-$attempt.*)"
}
