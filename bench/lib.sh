# shellcheck shell=bash
# What relay-iperf.sh and transparent-iperf.sh do the same way: their common settings, installing the peers,
# building the daemon, starting and stopping processes by PID, sampling a proxy during a run, the rotation of
# rounds and the report's metadata. Sourced, never run. Before sourcing it a script sets:
#   BENCH    this folder
#   LOG_TAG  the name its log lines start with
# and after sourcing it, before calling anything here:
#   RUN      its folder for logs, configs and raw results
#   LIB      its python helper as an array (so that "${LIB[@]}" ... & leaves $! on python itself); both helpers
#            answer tree, mem, sample and meta through iperf_common.py
#   PROXIES  the runs of one round, in the order of round 1
# Sourcing it installs the EXIT trap: whatever the script started or created is stopped or removed, also on an
# error or Ctrl-C.

DURATION=${DURATION:-10}   # seconds per iperf3 run
REPEATS=${REPEATS:-3}      # rounds; each round runs every proxy forward and reverse
BUILD=${BUILD:-1}          # 0 = reuse bench/out/daemon/transparentsocksd if it exists
DOTNET=${DOTNET:-dotnet}
PYTHON=${PYTHON:-python3}

REPO=$(cd "$BENCH/.." && pwd)
OUT=$BENCH/out
DAEMON=$OUT/daemon/transparentsocksd

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_common_env() {
    [[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 120 ]] || die "DURATION must be 1..120"
    [[ $REPEATS =~ ^[0-9]+$ && $REPEATS -ge 1 && $REPEATS -le 10 ]] || die "REPEATS must be 1..10"
}

parse_contenders() { # PROXIES from CONTENDERS: each one of ALL_CONTENDERS, none twice
    local c
    local -A seen=()
    read -r -a PROXIES <<<"$CONTENDERS"
    ((${#PROXIES[@]})) || die "CONTENDERS is empty"
    for c in "${PROXIES[@]}"; do
        [[ " ${ALL_CONTENDERS[*]} " == *" $c "* ]] || die "unknown contender '$c' (known: ${ALL_CONTENDERS[*]})"
        [[ -z ${seen[$c]:-} ]] || die "contender '$c' is listed twice"
        seen[$c]=1
    done
}

require_root() {  # require_root WHY
    [[ $(id -u) == 0 ]] || die "run as root ($1): sudo bash $0"
}

install_packages() { # install_packages PKG...: only what is missing
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only when the install fails: it is slow, and the lists are usually fresh enough.
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

require_tools() {  # require_tools TOOL...
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || die "$tool not found"; done
}

# ---------------------------------------------------------------- the daemon under test
daemon_needs_build() {  # true when bench/out/daemon must be (re)built
    [[ $BUILD != 0 || ! -x $DAEMON ]] || return 1
    command -v "$DOTNET" >/dev/null || die "'$DOTNET' not found (set DOTNET=/path/to/dotnet)"
}

worktree_build_info() {  # what a build of the working tree measures: the commit, and whether src/ had edits
    local info
    info=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]] && info+=" + uncommitted changes in src/"
    echo "$info"
}

publish_daemon() {  # publish_daemon SRC_ROOT BUILD_INFO [PUBLISH_ARG...]: NativeAOT build into bench/out/daemon
    local src_root=$1 info=$2
    shift 2
    mkdir -p "$OUT"
    # BUILD-INFO goes first, so that a failed build cannot leave the previous build's description next to a new binary.
    rm -f "$OUT/daemon/BUILD-INFO"
    if ! (cd "$src_root" && timeout 900 "$DOTNET" publish src/TransparentSocks.Daemon -c Release -r linux-x64 \
            -o "$OUT/daemon" "$@") >"$OUT/publish.log" 2>&1; then
        tail -n 30 "$OUT/publish.log" >&2
        die "dotnet publish failed (full log: bench/out/publish.log)"
    fi
    echo "$info, built $(date -u '+%Y-%m-%d %H:%M UTC')" >"$OUT/daemon/BUILD-INFO"
    [[ -x $DAEMON ]] || die "$DAEMON missing"
}

# ---------------------------------------------------------------- processes and namespaces we create
STARTED=()        # long-lived PIDs, in start order; stopped in reverse
PROXY_PID=        # a proxy started and stopped within a round, if one is running
SAMPLER_PID=
NAMESPACES=()
SRC_EXPORT=       # a temporary source export to build from, if any

alive() {         # alive PID: a zombie has finished; only its parent's wait is missing
    local stat
    # One read: between a test for the file and a second read, bash may reap the zombie, and an empty state
    # would then pass for a live process that "did not stop".
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }         # past the command name, which may hold spaces and ")"
    [[ ${stat%% *} != Z ]]
}

stop_pid() {      # stop_pid PID: SIGTERM, wait up to 10 s for it and its descendants, then SIGKILL what is left
    local pid=$1 tree i p any
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    # The tree is taken before SIGTERM: children that outlive their parent are reparented and could not be found.
    tree=$("${LIB[@]}" tree "$pid" 2>/dev/null || echo "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        any=0
        for p in $tree; do alive "$p" && any=1; done
        ((any)) || break
        sleep 0.1
    done
    for p in $tree; do
        if alive "$p"; then
            log "pid $p ($(tr -d "\0" 2>/dev/null <"/proc/$p/comm"), state $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null))" \
                "did not stop on SIGTERM in 10 s; sending SIGKILL"
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
    [[ -n $SRC_EXPORT ]] && rm -rf "$SRC_EXPORT"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listen() {   # wait_listen PORT PID NAME [NETNS]: up to 10 s, without connecting (a probe would count as a session)
    local port=$1 pid=$2 name=$3 ns=${4:-} i
    local -a in_ns=()
    [[ -z $ns ]] || in_ns=(ip netns exec "$ns")
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start (log: bench/${RUN#"$BENCH"/}/$name.log)"
        "${in_ns[@]}" ss -ltnH "sport = :$port" | grep -q . && return 0
        sleep 0.1
    done
    [[ -z $ns ]] || die "$name is not listening on port $port in $ns after 10 s"
    die "$name is not listening on 127.0.0.1:$port after 10 s"
}

write_ts_transparent_conf() {  # write_ts_transparent_conf FILE MODE LEVEL [EXTRA [UPSTREAM_EXTRA]]: transparentsocksd
    # on $GW_CLI_IF through the upstream on 127.0.0.1:$UPSTREAM_PORT (danted's $DANTED_PORT unless the script sets
    # it); EXTRA is more keys of "transparent", e.g. '"maxUdpFlows": 16384', UPSTREAM_EXTRA of "upstream".
    # The control socket is the run's own, not the default: network namespaces do not separate socket paths.
    cat >"$1" <<EOF
{
  "upstream": { "address": "127.0.0.1:${UPSTREAM_PORT:-$DANTED_PORT}"${5:+, $5} },
  "transparent": { "enabled": true, "mode": "$2", "port": $TS_PORT, "interfaces": [ { "name": "$GW_CLI_IF" } ]${4:+, $4} },
  "control": { "socket": "${1%.json}.sock" },
  "logging": { "level": "$3" }
}
EOF
}

write_redsocks_conf() {  # write_redsocks_conf FILE LOG_INFO(on|off) NFT_FILE NFT_TABLE [CONN_MAX]: redsocks through the
    # upstream (danted unless the script sets UPSTREAM_PORT), and its REDIRECT rule. Without CONN_MAX redsocks takes
    # RLIMIT_NOFILE / 8 connections at most.
    cat >"$1" <<EOF
base {
  log_debug = off;
  log_info = $2;
  log = stderr;
  daemon = off;
  redirector = iptables;${5:+
  redsocks_conn_max = $5;}
}
redsocks {
  local_ip = 0.0.0.0;
  local_port = $RS_PORT;
  ip = 127.0.0.1;
  port = ${UPSTREAM_PORT:-$DANTED_PORT};
  type = socks5;
}
EOF
    cat >"$3" <<EOF
table ip $4 {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "$GW_CLI_IF" meta l4proto tcp ip daddr 203.0.113.0/24 redirect to :$RS_PORT
  }
}
EOF
}

write_danted_conf() {  # write_danted_conf FILE PORT EXTERNAL [LOG]: danted on 127.0.0.1, no auth; LOG is what its
    local what=${4:-connect error}  # rules log, by default every connect (conn-rate.sh passes "error" alone)
    cat >"$1" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = $2
external: $3
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: $what
}
socks pass {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  command: connect
  log: $what
}
EOF
}

# ---------------------------------------------------------------- measuring
wire_lab() {      # wire_lab [MTU]: the veths, addresses and routes of client ns -> gateway ns -> target ns (made already)
    local mtu=()
    [[ -n ${1:-} ]] && mtu=(mtu "$1")
    ip -n "$NS_GW" link add "$GW_CLI_IF" "${mtu[@]}" type veth peer name tsb-gw netns "$NS_CLI"
    ip -n "$NS_GW" link add "$GW_TGT_IF" "${mtu[@]}" type veth peer name tsb-gw netns "$NS_TGT"
    ip -n "$NS_CLI" link set tsb-gw "${mtu[@]}" up
    ip -n "$NS_TGT" link set tsb-gw "${mtu[@]}" up
    ip -n "$NS_GW" addr add "$GW_CLI_IP/24" dev "$GW_CLI_IF"
    ip -n "$NS_GW" addr add "$GW_TGT_IP/24" dev "$GW_TGT_IF"
    ip -n "$NS_CLI" addr add "$CLI_IP/24" dev tsb-gw
    ip -n "$NS_TGT" addr add "$TGT_IP/24" dev tsb-gw
    for dev in "$GW_CLI_IF" "$GW_TGT_IF"; do ip -n "$NS_GW" link set "$dev" up; done
    ip -n "$NS_CLI" route add default via "$GW_CLI_IP"
    ip -n "$NS_TGT" route add default via "$GW_TGT_IP"
    ip netns exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
}

idle_mem() {      # idle_mem PID: memory of PID's tree, as the JSON object meta.json keeps
    local rss pss nprocs
    read -r rss pss nprocs <<<"$("${LIB[@]}" mem "$1")"
    echo "{\"rss_kb\": $rss, \"pss_kb\": $pss, \"nprocs\": $nprocs}"
}

start_sampler() { # start_sampler PID BASE: peak RSS and CPU of PID's tree into BASE.sample.json, until stop_sampler
    rm -f "$2.stop"
    # The sampler stops on its own after the longest a run can take, so a lost stop file cannot leave it behind.
    "${LIB[@]}" sample "$1" "$2.sample.json" "$2.stop" $((DURATION + 40)) &
    SAMPLER_PID=$!
}

stop_sampler() {  # stop_sampler BASE
    touch "$1.stop"
    wait "$SAMPLER_PID" || true
    SAMPLER_PID=
}

run_rounds() {    # run_rounds VISIT: VISIT NAME ROUND for every entry of PROXIES, in each of REPEATS rounds
    local round k n=${#PROXIES[@]}
    for ((round = 1; round <= REPEATS; round++)); do
        log "round $round/$REPEATS"
        for ((k = 0; k < n; k++)); do
            "$1" "${PROXIES[(k + round - 1) % n]}" "$round"   # rotate the order so no run always comes first or last
        done
    done
}

# ---------------------------------------------------------------- the report
host_facts() {    # host_facts PKG...: KERNEL CPU DATE COMMIT VERSIONS (iperf3, if installed, and the peers' Debian packages)
    KERNEL=$(uname -srvm)
    CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
    COMMIT=$(cat "$OUT/daemon/BUILD-INFO" 2>/dev/null || echo "unknown build")
    VERSIONS=
    # iperf3 is what the iperf benchmarks measure with; conn-rate.sh has no use for it and sets VERSIONS itself.
    command -v iperf3 >/dev/null && VERSIONS="$(iperf3 --version | head -n 1 | cut -d' ' -f1-2); "
    VERSIONS+="$(dpkg-query -W -f='${Package} ${Version}; ' "$@")"
    VERSIONS=${VERSIONS%; }
    log "$DATE | $KERNEL | $CPU | $(nproc) cores"
}

write_meta() {    # write_meta [NAME=VALUE...]: $RUN/meta.json, from host_facts and the settings plus the script's own
    env KERNEL="$KERNEL" CPU="$CPU" DATE="$DATE" COMMIT="$COMMIT" VERSIONS="$VERSIONS" NPROC="$(nproc)" \
        DURATION_S="$DURATION" REPEATS_N="$REPEATS" PROXY_LIST="${PROXIES[*]}" "$@" \
        "${LIB[@]}" meta >"$RUN/meta.json"
}

write_report() {  # write_report NAME.md: into bench/results/ and onto stdout
    "${LIB[@]}" report "$RUN/results.jsonl" "$RUN/meta.json" >"$BENCH/results/$1"
    cat "$BENCH/results/$1"
    log "wrote bench/results/$1 (raw: bench/${RUN#"$BENCH"/}/)"
}
