#!/usr/bin/env bash
# Single-stream iperf3 through the TRANSPARENT path: transparentsocksd (TPROXY and REDIRECT) against redsocks, in
# one lab of three network namespaces, in the same run, through the same upstream SOCKS5 server (danted).
#
#   sudo bash bench/transparent-iperf.sh             # DURATION=10 REPEATS=3 by default
#   sudo DURATION=3 REPEATS=1 BUILD=0 bash bench/transparent-iperf.sh
#
#   client ns 198.51.100.2 --veth-- gateway ns 198.51.100.1 | 203.0.113.1 --veth-- target ns 203.0.113.2
#                                   (ip_forward=1; the proxy under test,          (iperf3 -s)
#                                    danted on 127.0.0.1:1080)
#
# Runs: direct (plain routing), ts-tproxy, ts-redirect, redsocks (REDIRECT). Only one proxy exists at a time: each
# is started before its two runs (forward, reverse) and stopped after them. Every run is checked: the iperf3 server
# must see both connections come from 203.0.113.1 (danted) for a proxied run and from 198.51.100.2 for direct;
# danted and the front proxy must each log exactly two new connections to the target.
# Output: a markdown report on stdout and in bench/results/transparent-latest.md; logs and raw JSON in
# bench/out/transparent-run/. Settings (environment): the ones below, and DURATION, REPEATS, BUILD, DOTNET, PYTHON
# (see lib.sh). See bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=transparent-iperf
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
# shellcheck source-path=SCRIPTDIR source=transparent_lab.sh
. "$BENCH/transparent_lab.sh"
RUN=$OUT/transparent-run
LIB=("$PYTHON" "$BENCH/transparent_iperf_lib.py")
PROXIES=(direct ts-tproxy ts-redirect redsocks)

SOURCE=${SOURCE:-worktree} # what to build: the working tree as it is, or "head", a clean export of the last commit
QUIET_PCT=${QUIET_PCT:-25} # before each run, wait (at most QUIET_WAIT s) until the host is less busy than this
QUIET_WAIT=${QUIET_WAIT:-30}
MAX_OTHERS=${MAX_OTHERS:-0.25} # a run during which other processes used more cores than this is repeated ...
RETRIES=${RETRIES:-2}      # ... at most this many times; the report keeps the least disturbed attempt
MTU=${MTU:-1500}           # veth MTU in the lab

# The lab. Namespace names carry our PID so that two runs never share one; interface names are per namespace.
NS_CLI=tsbench-$$-cli
NS_GW=tsbench-$$-gw
NS_TGT=tsbench-$$-tgt
GW_CLI_IF=tsb-cli          # gateway side of the client veth: the interface the proxies divert
GW_TGT_IF=tsb-tgt          # gateway side of the target veth: danted's external interface
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
IPERF_PORT=5201 DANTED_PORT=1080 TS_PORT=12345 RS_PORT=12346

check_common_env
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 ]] || die "QUIET_WAIT must be 0..600"
[[ $SOURCE == worktree || $SOURCE == head ]] || die "SOURCE must be worktree or head"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 5 ]] || die "RETRIES must be 0..5"
[[ $MAX_OTHERS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MAX_OTHERS must be a number of cores"
require_root "namespaces, nft, danted's user.privileged: root"

install_packages iperf3 dante-server redsocks nftables iproute2 clang
require_tools iperf3 danted redsocks nft ip ss "$PYTHON"

if daemon_needs_build; then
    src_root=$REPO artifacts=$OUT/artifacts
    if [[ $SOURCE == head ]]; then
        # A clean export of the last commit, outside the repository (and outside bench/, whose path would switch
        # Directory.Build.props to its test settings), so other people's uncommitted edits in src/ stay out.
        SRC_EXPORT=$(mktemp -d /tmp/tsbench-src.XXXXXX)
        git -C "$REPO" archive --format=tar HEAD | tar -x -C "$SRC_EXPORT"
        src_root=$SRC_EXPORT artifacts=$OUT/artifacts-head
        build_info="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown) (clean export of HEAD)"
    else
        build_info=$(worktree_build_info)
    fi
    log "building transparentsocksd (NativeAOT, $build_info) into bench/out/daemon"
    # --artifacts-path keeps this build's obj/bin away from src/*/obj, which other builds of the tree use.
    publish_daemon "$src_root" "$build_info" --artifacts-path "$artifacts"
    if [[ -n $SRC_EXPORT ]]; then rm -rf "$SRC_EXPORT"; SRC_EXPORT=; fi
fi

# ---------------------------------------------------------------- the lab
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
stale=$(ip netns list | awk '/^tsbench-/ {print $1}' | tr '\n' ' ')
[[ -n $stale ]] && log "note: namespaces from another run exist ($stale); they are left alone"
for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
done
wire_lab "$MTU"

ip netns exec "$NS_TGT" iperf3 -s -p "$IPERF_PORT" --idle-timeout $((DURATION + 120)) \
    >"$RUN/iperf3-server.log" 2>&1 &
STARTED+=($!)
wait_listen "$IPERF_PORT" $! iperf3-server "$NS_TGT"
expect_comm $! iperf3

# The one upstream every proxied run goes through.
write_danted_conf "$RUN/danted.conf" "$DANTED_PORT" "$GW_TGT_IF"
ip netns exec "$NS_GW" danted -f "$RUN/danted.conf" -N 1 -p "$RUN/danted.pid" >"$RUN/danted.log" 2>&1 &
DANTED_PID=$!
STARTED+=("$DANTED_PID")
wait_listen "$DANTED_PORT" "$DANTED_PID" danted "$NS_GW"
expect_comm "$DANTED_PID" danted

for mode in tproxy redirect; do write_ts_transparent_conf "$RUN/ts-$mode.json" "$mode" debug; done
write_redsocks_conf "$RUN/redsocks.conf" on "$RUN/redsocks.nft" rsbench

stop_proxy_clean() { # stop the running proxy (transparent_lab.sh) and check that no nft table is left in the one lab
    local name=$PROXY_NAME
    [[ $name == redsocks ]] && in_gw nft delete table ip rsbench
    stop_proxy
    [[ -z $(in_gw nft list tables 2>/dev/null) ]] || die "an nft table is left in the gateway after $name"
}

proxy_sessions() { # proxy_sessions NAME ROUND: new connections to the target that the front proxy logged
    local f=$RUN/$1-$2.log
    case $1 in
        ts-*) grep -cE -- "-> $TGT_IP:$IPERF_PORT via socks5://127\.0\.0\.1:$DANTED_PORT\$" "$f" || true ;;
        redsocks) grep -cE -- "->$TGT_IP:$IPERF_PORT\]: accepted" "$f" || true ;;
    esac
}

danted_sessions() {
    grep -cE -- "tcp/connect \[: .*${TGT_IP//./\\.}\.$IPERF_PORT\$" "$RUN/danted.log" || true
}

BUSY=()
OTHERS=           # set by run_attempt: cores that other processes on the host used during the run
run_attempt() {   # run_attempt NAME fwd|rev ROUND ATTEMPT: one checked iperf3 run, appended to results.jsonl
    local name=$1 dir=$2 round=$3 attempt=$4 base=$RUN/$1-$2-$3-$4 rc=0 before after dbefore dafter c0 c1 busy
    local o0 t0 o1 t1 sample=- peer=$GW_TGT_IP psessions=-
    local -a cmd=(iperf3 -c "$TGT_IP" -p "$IPERF_PORT" -t "$DURATION" -J --get-server-output --connect-timeout 5000)
    [[ $dir == rev ]] && cmd+=(-R)
    busy=$("${LIB[@]}" quiet "$QUIET_PCT" "$QUIET_WAIT")
    BUSY+=("$busy")
    dbefore=$(danted_sessions)
    [[ $name != direct ]] && before=$(proxy_sessions "$name" "$round")
    c0=$("${LIB[@]}" cpu "$DANTED_PID")
    read -r o0 t0 <<<"$("${LIB[@]}" others $$)"
    [[ $name != direct ]] && start_sampler "$PROXY_PID" "$base"
    timeout $((DURATION + 30)) ip netns exec "$NS_CLI" "${cmd[@]}" >"$base.json" 2>"$base.err" || rc=$?
    [[ $name != direct ]] && stop_sampler "$base"
    read -r o1 t1 <<<"$("${LIB[@]}" others $$)"
    c1=$("${LIB[@]}" cpu "$DANTED_PID")
    OTHERS=$(awk -v a="$o0" -v b="$o1" -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", (b - a) / (e - s)}')
    if [[ $name == direct ]]; then
        peer=$CLI_IP
    else
        sleep 0.3   # the loggers may flush a moment after the connection closes
        after=$(proxy_sessions "$name" "$round")
        psessions=$((after - before))
        sample=$base.sample.json
    fi
    dafter=$(danted_sessions)
    "${LIB[@]}" run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" "$sample" "$peer" "$psessions" \
        $((dafter - dbefore)) "$(awk -v a="$c0" -v b="$c1" 'BEGIN {print b - a}')" "$busy" "$OTHERS" "$attempt" \
        || rc=$?
    ((rc == 0)) || die "$name $dir round $round failed (rc $rc; see bench/out/transparent-run/$name-$dir-$round-$attempt.*)"
    sleep 1       # let the iperf3 server go back to listening
}

run_one() {       # run_one NAME fwd|rev ROUND: repeat a run (at most RETRIES times) that other work disturbed
    local attempt
    for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
        run_attempt "$1" "$2" "$3" "$attempt"
        awk -v o="$OTHERS" -v m="$MAX_OTHERS" 'BEGIN {exit !(o <= m)}' && return 0
        ((attempt <= RETRIES)) && log "$1 $2 round $3: other processes used $OTHERS cores during the run; repeating it"
    done
    return 0      # the report keeps the least disturbed attempt
}

declare -A IDLE
visit() {         # visit NAME ROUND: a proxy lives only for its own two runs, so each starts on a clean gateway
    local name=$1 round=$2
    if [[ $name != direct ]]; then
        start_proxy "$name" "$round"
        sleep 1                                       # idle memory: listening, nothing connected yet
        IDLE[$name]+="$(idle_mem "$PROXY_PID"),"
    fi
    run_one "$name" fwd "$round"
    run_one "$name" rev "$round"
    stop_proxy_clean
}

host_facts redsocks dante-server nftables
log "lab: $NS_CLI $CLI_IP -> $NS_GW ($GW_CLI_IF $GW_CLI_IP | $GW_TGT_IF $GW_TGT_IP) -> $NS_TGT $TGT_IP:$IPERF_PORT"
log "$REPEATS round(s) x ${#PROXIES[@]} runs x 2 directions x ${DURATION}s" \
    "≈ $((REPEATS * ${#PROXIES[@]} * 2 * (DURATION + 4))) s"

sleep 1
danted_idle=$(idle_mem "$DANTED_PID")
run_rounds visit

idle_json="{"
for name in "${!IDLE[@]}"; do idle_json+="\"$name\": [${IDLE[$name]%,}],"; done
idle_json="${idle_json%,}}"
write_meta IDLE="$idle_json" DANTED_IDLE="$danted_idle" BUSY="${BUSY[*]}" MAX_OTHERS_C="$MAX_OTHERS" \
    RETRIES_N="$RETRIES" QUIET="$QUIET_PCT $QUIET_WAIT" MTU_B="$MTU"
write_report transparent-latest.md
