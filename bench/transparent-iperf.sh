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
# bench/out/transparent-run/. See bench/README.md.
set -euo pipefail

DURATION=${DURATION:-10}   # seconds per iperf3 run
REPEATS=${REPEATS:-3}      # rounds; each round runs every proxy forward and reverse
BUILD=${BUILD:-1}          # 0 = reuse bench/out/daemon/transparentsocksd if it exists
SOURCE=${SOURCE:-worktree} # what to build: the working tree as it is, or "head", a clean export of the last commit
QUIET_PCT=${QUIET_PCT:-25} # before each run, wait (at most QUIET_WAIT s) until the host is less busy than this
QUIET_WAIT=${QUIET_WAIT:-30}
MAX_OTHERS=${MAX_OTHERS:-0.25} # a run during which other processes used more cores than this is repeated ...
RETRIES=${RETRIES:-2}      # ... at most this many times; the report keeps the least disturbed attempt
MTU=${MTU:-1500}           # veth MTU in the lab
DOTNET=${DOTNET:-dotnet}
PYTHON=${PYTHON:-python3}

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
OUT=$BENCH/out
RUN=$OUT/transparent-run
DAEMON=$OUT/daemon/transparentsocksd
LIB="$PYTHON $BENCH/transparent_iperf_lib.py"
PROXIES=(direct ts-tproxy ts-redirect redsocks)

# The lab. Namespace names carry our PID so that two runs never share one; interface names are per namespace.
NS_CLI=tsbench-$$-cli
NS_GW=tsbench-$$-gw
NS_TGT=tsbench-$$-tgt
GW_CLI_IF=tsb-cli          # gateway side of the client veth: the interface the proxies divert
GW_TGT_IF=tsb-tgt          # gateway side of the target veth: danted's external interface
CLI_IP=198.51.100.2 GW_CLI_IP=198.51.100.1 GW_TGT_IP=203.0.113.1 TGT_IP=203.0.113.2
IPERF_PORT=5201 DANTED_PORT=1080 TS_PORT=12345 RS_PORT=12346

log() { printf '[transparent-iperf] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_gw() { ip netns exec "$NS_GW" "$@"; }   # foreground only: with & the PID would be a subshell's

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 120 ]] || die "DURATION must be 1..120"
[[ $REPEATS =~ ^[0-9]+$ && $REPEATS -ge 1 && $REPEATS -le 10 ]] || die "REPEATS must be 1..10"
[[ $QUIET_WAIT =~ ^[0-9]+$ && $QUIET_WAIT -le 600 ]] || die "QUIET_WAIT must be 0..600"
[[ $SOURCE == worktree || $SOURCE == head ]] || die "SOURCE must be worktree or head"
[[ $RETRIES =~ ^[0-9]+$ && $RETRIES -le 5 ]] || die "RETRIES must be 0..5"
[[ $MAX_OTHERS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MAX_OTHERS must be a number of cores"
[[ $(id -u) == 0 ]] || die "run as root (namespaces, nft, danted's user.privileged: root): sudo bash $0"

# ---------------------------------------------------------------- dependencies (idempotent)
APT_PACKAGES=(iperf3 dante-server redsocks nftables iproute2 clang)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi
for tool in iperf3 danted redsocks nft ip ss "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# ---------------------------------------------------------------- build
SRC_EXPORT=
trap '[[ -n $SRC_EXPORT ]] && rm -rf "$SRC_EXPORT"' EXIT
trap 'exit 130' INT TERM
if [[ $BUILD != 0 || ! -x $DAEMON ]]; then
    command -v "$DOTNET" >/dev/null || die "'$DOTNET' not found (set DOTNET=/path/to/dotnet)"
    mkdir -p "$OUT"
    build_info=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    src_root=$REPO artifacts=$OUT/artifacts
    if [[ $SOURCE == head ]]; then
        # A clean export of the last commit, outside the repository (and outside bench/, whose path would switch
        # Directory.Build.props to its test settings), so other people's uncommitted edits in src/ stay out.
        SRC_EXPORT=$(mktemp -d /tmp/tsbench-src.XXXXXX)
        git -C "$REPO" archive --format=tar HEAD | tar -x -C "$SRC_EXPORT"
        src_root=$SRC_EXPORT artifacts=$OUT/artifacts-head
        build_info+=" (clean export of HEAD)"
    elif [[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]]; then
        build_info+=" + uncommitted changes in src/"
    fi
    log "building transparentsocksd (NativeAOT, $build_info) into bench/out/daemon"
    rm -f "$OUT/daemon/BUILD-INFO"
    # --artifacts-path keeps this build's obj/bin away from src/*/obj, which other builds of the tree use.
    if ! (cd "$src_root" && timeout 900 "$DOTNET" publish src/TransparentSocks.Daemon -c Release -r linux-x64 \
            -o "$OUT/daemon" --artifacts-path "$artifacts") >"$OUT/publish.log" 2>&1; then
        tail -n 30 "$OUT/publish.log" >&2
        die "dotnet publish failed (full log: bench/out/publish.log)"
    fi
    echo "$build_info, built $(date -u '+%Y-%m-%d %H:%M UTC')" >"$OUT/daemon/BUILD-INFO"
    if [[ -n $SRC_EXPORT ]]; then rm -rf "$SRC_EXPORT"; SRC_EXPORT=; fi
fi
[[ -x $DAEMON ]] || die "$DAEMON missing"

# ---------------------------------------------------------------- processes and namespaces we create
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
STARTED=()        # long-lived PIDs (iperf3 server, danted), in start order
PROXY_PID=        # the front proxy currently running, if any
PROXY_NAME=
SAMPLER_PID=
NAMESPACES=()

stop_pid() {      # stop_pid PID: SIGTERM, wait up to 10 s for it and its descendants, then SIGKILL what is left
    local pid=$1 tree i p alive
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    tree=$($LIB tree "$pid" 2>/dev/null || echo "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive=0
        for p in $tree; do
            if [[ -r /proc/$p/stat && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for p in $tree; do
        if [[ -r /proc/$p/stat && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then
            log "pid $p ($(tr -d "\0" </proc/$p/comm 2>/dev/null)) did not stop on SIGTERM in 10 s; sending SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? i ns
    [[ -n $SAMPLER_PID ]] && stop_pid "$SAMPLER_PID"
    [[ -n $PROXY_PID ]] && stop_pid "$PROXY_PID"
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
    # Deleting the namespaces takes their veths, addresses, routes, rules and nft tables with them.
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || log "could not delete netns $ns"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

expect_comm() {   # expect_comm PID NAME: PID must be the program itself (ip netns exec execs it), not a wrapper
    local comm
    comm=$(tr -d '\0' </proc/$1/comm 2>/dev/null || true)
    [[ ${2:0:15} == "$comm" ]] || die "pid $1 is '$comm', expected $2"
}

wait_listen() {   # wait_listen NS PORT PID NAME: up to 10 s, without connecting (a probe would count as a session)
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$3" 2>/dev/null || die "$4 exited at start (log: bench/out/transparent-run/$4.log)"
        ip netns exec "$1" ss -ltnH "sport = :$2" | grep -q . && return 0
        sleep 0.1
    done
    die "$4 is not listening on port $2 in $1 after 10 s"
}

# ---------------------------------------------------------------- the lab
stale=$(ip netns list | awk '/^tsbench-/ {print $1}' | tr '\n' ' ')
[[ -n $stale ]] && log "note: namespaces from another run exist ($stale); they are left alone"
for ns in "$NS_CLI" "$NS_GW" "$NS_TGT"; do
    ip netns add "$ns"
    NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
done
ip -n "$NS_GW" link add "$GW_CLI_IF" mtu "$MTU" type veth peer name tsb-gw netns "$NS_CLI"
ip -n "$NS_GW" link add "$GW_TGT_IF" mtu "$MTU" type veth peer name tsb-gw netns "$NS_TGT"
ip -n "$NS_CLI" link set tsb-gw mtu "$MTU"
ip -n "$NS_TGT" link set tsb-gw mtu "$MTU"
ip -n "$NS_GW" addr add "$GW_CLI_IP/24" dev "$GW_CLI_IF"
ip -n "$NS_GW" addr add "$GW_TGT_IP/24" dev "$GW_TGT_IF"
ip -n "$NS_CLI" addr add "$CLI_IP/24" dev tsb-gw
ip -n "$NS_TGT" addr add "$TGT_IP/24" dev tsb-gw
for dev in "$GW_CLI_IF" "$GW_TGT_IF"; do ip -n "$NS_GW" link set "$dev" up; done
ip -n "$NS_CLI" link set tsb-gw up
ip -n "$NS_TGT" link set tsb-gw up
ip -n "$NS_CLI" route add default via "$GW_CLI_IP"
ip -n "$NS_TGT" route add default via "$GW_TGT_IP"
in_gw sysctl -qw net.ipv4.ip_forward=1

ip netns exec "$NS_TGT" iperf3 -s -p "$IPERF_PORT" --idle-timeout $((DURATION + 120)) \
    >"$RUN/iperf3-server.log" 2>&1 &
STARTED+=($!)
wait_listen "$NS_TGT" "$IPERF_PORT" $! iperf3-server
expect_comm $! iperf3

# The one upstream every proxied run goes through.
cat >"$RUN/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = $DANTED_PORT
external: $GW_TGT_IF
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: connect error
}
socks pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  command: connect
  log: connect error
}
EOF
ip netns exec "$NS_GW" danted -f "$RUN/danted.conf" -N 1 -p "$RUN/danted.pid" >"$RUN/danted.log" 2>&1 &
DANTED_PID=$!
STARTED+=($DANTED_PID)
wait_listen "$NS_GW" "$DANTED_PORT" $DANTED_PID danted
expect_comm $DANTED_PID danted

for mode in tproxy redirect; do
    cat >"$RUN/ts-$mode.json" <<EOF
{
  "upstream": { "address": "127.0.0.1:$DANTED_PORT" },
  "transparent": { "enabled": true, "mode": "$mode", "port": $TS_PORT, "interfaces": [ { "name": "$GW_CLI_IF" } ] },
  "logging": { "level": "debug" }
}
EOF
done
cat >"$RUN/redsocks.conf" <<EOF
base {
  log_debug = off;
  log_info = on;
  log = stderr;
  daemon = off;
  redirector = iptables;
}
redsocks {
  local_ip = 0.0.0.0;
  local_port = $RS_PORT;
  ip = 127.0.0.1;
  port = $DANTED_PORT;
  type = socks5;
}
EOF
cat >"$RUN/redsocks.nft" <<EOF
table ip rsbench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$GW_CLI_IF" meta l4proto tcp ip daddr 203.0.113.0/24 redirect to :$RS_PORT
  }
}
EOF

ts_state() {      # what transparentsocksd has installed in the gateway namespace, as one line
    local t r
    t=$(in_gw nft list tables 2>/dev/null | grep -c 'inet transparentsocks' || true)
    r=$(in_gw ip -4 rule show 2>/dev/null | grep -c 'lookup 5453' || true)
    echo "table=$t rules=$r"
}

start_proxy() {   # start_proxy NAME ROUND: start it in the gateway namespace, wait until it diverts
    local name=$1 round=$2 i logf=$RUN/$1-$2.log
    : >"$logf"    # the background job opens it only once forked; grep must not race it
    case $name in
        ts-tproxy | ts-redirect)
            ip netns exec "$NS_GW" "$DAEMON" --config "$RUN/$name.json" >"$logf" 2>&1 &
            PROXY_PID=$!
            for ((i = 0; i < 200; i++)); do
                grep -q "transparentsocksd started" "$logf" && break
                kill -0 "$PROXY_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start"; }
                sleep 0.1
            done
            grep -q "transparentsocksd started" "$logf" || die "$name did not log 'transparentsocksd started' in 20 s"
            expect_comm "$PROXY_PID" transparentsocksd
            [[ $(ts_state) == "table=1 rules=$([[ $name == ts-tproxy ]] && echo 1 || echo 0)" ]] \
                || die "$name is up but its nft table/policy rules are not as expected: $(ts_state)"
            ;;
        redsocks)
            ip netns exec "$NS_GW" redsocks -c "$RUN/redsocks.conf" >"$logf" 2>&1 &
            PROXY_PID=$!
            wait_listen "$NS_GW" "$RS_PORT" "$PROXY_PID" "redsocks-$round"
            expect_comm "$PROXY_PID" redsocks
            in_gw nft -f "$RUN/redsocks.nft"
            ;;
    esac
    PROXY_NAME=$name
}

stop_proxy() {    # stop_proxy: stop the running proxy and check that it left nothing behind
    local pid=$PROXY_PID name=$PROXY_NAME
    [[ -n $pid ]] || return 0
    [[ $name == redsocks ]] && in_gw nft delete table ip rsbench
    stop_pid "$pid"
    PROXY_PID= PROXY_NAME=
    case $name in
        ts-*) [[ $(ts_state) == "table=0 rules=0" ]] || die "$name stopped but left state behind: $(ts_state)" ;;
    esac
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
    busy=$($LIB quiet "$QUIET_PCT" "$QUIET_WAIT")
    BUSY+=("$busy")
    dbefore=$(danted_sessions)
    [[ $name != direct ]] && before=$(proxy_sessions "$name" "$round")
    c0=$($LIB cpu "$DANTED_PID")
    read -r o0 t0 <<<"$($LIB others $$)"
    if [[ $name != direct ]]; then
        rm -f "$base.stop"
        $LIB sample "$PROXY_PID" "$base.sample.json" "$base.stop" $((DURATION + 40)) &
        SAMPLER_PID=$!
    fi
    timeout $((DURATION + 30)) ip netns exec "$NS_CLI" "${cmd[@]}" >"$base.json" 2>"$base.err" || rc=$?
    if [[ $name != direct ]]; then
        touch "$base.stop"
        wait "$SAMPLER_PID" || true
        SAMPLER_PID=
    fi
    read -r o1 t1 <<<"$($LIB others $$)"
    c1=$($LIB cpu "$DANTED_PID")
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
    $LIB run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" "$sample" "$peer" "$psessions" \
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

KERNEL=$(uname -srvm)
CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
COMMIT=$(cat "$OUT/daemon/BUILD-INFO" 2>/dev/null || echo "unknown build")
VERSIONS="$(iperf3 --version | head -n 1 | cut -d' ' -f1-2); $(dpkg-query -W -f='${Package} ${Version}; ' \
    redsocks dante-server nftables)"
log "$DATE | $KERNEL | $CPU | $(nproc) cores"
log "lab: $NS_CLI $CLI_IP -> $NS_GW ($GW_CLI_IF $GW_CLI_IP | $GW_TGT_IF $GW_TGT_IP) -> $NS_TGT $TGT_IP:$IPERF_PORT"
log "$REPEATS round(s) x ${#PROXIES[@]} runs x 2 directions x ${DURATION}s" \
    "≈ $((REPEATS * ${#PROXIES[@]} * 2 * (DURATION + 4))) s"

sleep 1
read -r d_rss d_pss d_n <<<"$($LIB mem "$DANTED_PID")"
danted_idle="{\"rss_kb\": $d_rss, \"pss_kb\": $d_pss, \"nprocs\": $d_n}"
declare -A IDLE
for ((round = 1; round <= REPEATS; round++)); do
    log "round $round/$REPEATS"
    n=${#PROXIES[@]}
    for ((k = 0; k < n; k++)); do
        name=${PROXIES[(k + round - 1) % n]}   # rotate the order so no run always comes first or last
        if [[ $name != direct ]]; then
            start_proxy "$name" "$round"
            sleep 1                                       # idle memory: listening, nothing connected yet
            read -r rss pss nprocs <<<"$($LIB mem "$PROXY_PID")"
            IDLE[$name]+="{\"rss_kb\": $rss, \"pss_kb\": $pss, \"nprocs\": $nprocs},"
        fi
        run_one "$name" fwd "$round"
        run_one "$name" rev "$round"
        stop_proxy
    done
done

idle_json="{"
for name in "${!IDLE[@]}"; do idle_json+="\"$name\": [${IDLE[$name]%,}],"; done
idle_json="${idle_json%,}}"
KERNEL="$KERNEL" CPU="$CPU" DATE="$DATE" COMMIT="$COMMIT" VERSIONS="${VERSIONS%; }" IDLE="$idle_json" \
DANTED_IDLE="$danted_idle" BUSY="${BUSY[*]}" MAX_OTHERS_C=$MAX_OTHERS RETRIES_N=$RETRIES QUIET="$QUIET_PCT $QUIET_WAIT" NPROC=$(nproc) DURATION_S=$DURATION REPEATS_N=$REPEATS MTU_B=$MTU \
PROXY_LIST="${PROXIES[*]}" $PYTHON - >"$RUN/meta.json" <<'EOF'
import json, os, statistics
e = os.environ
busy = [float(x) for x in e["BUSY"].split()]
print(json.dumps({"kernel": e["KERNEL"], "cpu": e["CPU"], "date": e["DATE"], "commit": e["COMMIT"],
                  "versions": e["VERSIONS"], "idle": json.loads(e["IDLE"]), "danted_idle": json.loads(e["DANTED_IDLE"]),
                  "nproc": int(e["NPROC"]), "duration": int(e["DURATION_S"]), "repeats": int(e["REPEATS_N"]),
                  "mtu": int(e["MTU_B"]), "busy_median": statistics.median(busy), "busy_max": max(busy),
                  "max_others": float(e["MAX_OTHERS_C"]), "retries": int(e["RETRIES_N"]),
                  "quiet_pct": float(e["QUIET"].split()[0]), "quiet_wait": int(e["QUIET"].split()[1]),
                  "proxies": e["PROXY_LIST"].split()}))
EOF
$LIB report "$RUN/results.jsonl" "$RUN/meta.json" >"$BENCH/results/transparent-latest.md"
cat "$BENCH/results/transparent-latest.md"
log "wrote bench/results/transparent-latest.md (raw: bench/out/transparent-run/)"
