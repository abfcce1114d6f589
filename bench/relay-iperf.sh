#!/usr/bin/env bash
# Single-stream throughput and memory of the SOCKS5 relay on loopback, against direct and two peer proxies.
#
#   sudo bash bench/relay-iperf.sh            # DURATION=10 REPEATS=3 by default
#   sudo DURATION=5 REPEATS=1 BUILD=0 bash bench/relay-iperf.sh
#
# iperf3 has no SOCKS support, so its client runs under proxychains4 (LD_PRELOAD), which sends both its
# control and its data connection through the proxy under test. Every run is checked: the data socket's peer
# must be the proxy's port and the proxy's own log must show exactly two new sessions to the iperf3 server.
# Output: a markdown report on stdout and in bench/results/latest.md; logs and raw JSON in bench/out/run/.
# See bench/README.md.
set -euo pipefail

DURATION=${DURATION:-10}   # seconds per iperf3 run
REPEATS=${REPEATS:-3}      # rounds; each round runs every proxy forward and reverse
BUILD=${BUILD:-1}          # 0 = reuse bench/out/daemon/transparentsocksd if it exists
DOTNET=${DOTNET:-dotnet}
PYTHON=${PYTHON:-python3}

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
OUT=$BENCH/out
RUN=$OUT/run
DAEMON=$OUT/daemon/transparentsocksd
LIB="$PYTHON $BENCH/relay_iperf_lib.py"
PROXIES=(direct ts-splice ts-copy microsocks danted)

log() { printf '[relay-iperf] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 120 ]] || die "DURATION must be 1..120"
[[ $REPEATS =~ ^[0-9]+$ && $REPEATS -ge 1 && $REPEATS -le 10 ]] || die "REPEATS must be 1..10"
[[ $(id -u) == 0 ]] || die "run as root (apt-get, and danted's user.privileged: root): sudo bash $0"

# ---------------------------------------------------------------- dependencies (idempotent)
APT_PACKAGES=(iperf3 proxychains4 microsocks dante-server clang)
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
for tool in iperf3 proxychains4 microsocks danted ss "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# ---------------------------------------------------------------- build
if [[ $BUILD != 0 || ! -x $DAEMON ]]; then
    command -v "$DOTNET" >/dev/null || die "'$DOTNET' not found (set DOTNET=/path/to/dotnet)"
    log "building transparentsocksd (NativeAOT) into bench/out/daemon"
    mkdir -p "$OUT"
    # What is being measured: the commit, and whether src/ had uncommitted edits when the build started.
    build_info=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -n $(git -C "$REPO" status --porcelain -- src 2>/dev/null) ]] && build_info+=" + uncommitted changes in src/"
    rm -f "$OUT/daemon/BUILD-INFO"
    if ! (cd "$REPO" && timeout 900 "$DOTNET" publish src/TransparentSocks.Daemon -c Release -r linux-x64 \
            -o bench/out/daemon) >"$OUT/publish.log" 2>&1; then
        tail -n 30 "$OUT/publish.log" >&2
        die "dotnet publish failed (full log: bench/out/publish.log)"
    fi
    echo "$build_info, built $(date -u '+%Y-%m-%d %H:%M UTC')" >"$OUT/daemon/BUILD-INFO"
fi
[[ -x $DAEMON ]] || die "$DAEMON missing"

# ---------------------------------------------------------------- processes we start, stopped by PID
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
declare -A PID PORT
STARTED=()        # every PID we started, in order
SAMPLER_PID=

stop_pid() {      # stop_pid PID: SIGTERM, wait up to 10 s for it and its descendants, then SIGKILL what is left
    local pid=$1 tree i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    tree=$($LIB tree "$pid" 2>/dev/null || echo "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        local alive=0 p
        for p in $tree; do
            if [[ -r /proc/$p/stat && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for p in $tree; do
        if [[ -r /proc/$p/stat && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then
            log "pid $p ($(tr -d "\0" </proc/$p/comm 2>/dev/null), state $(awk '{print $3}' /proc/$p/stat 2>/dev/null)) did not stop on SIGTERM in 10 s; sending SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? i
    [[ -n $SAMPLER_PID ]] && stop_pid "$SAMPLER_PID"
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listen() {   # wait_listen PORT PID NAME: up to 10 s, without connecting (a probe would count as a session)
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$2" 2>/dev/null || die "$3 exited at start (log: bench/out/run/$3.log)"
        ss -ltnH "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    die "$3 is not listening on 127.0.0.1:$1 after 10 s"
}

read -r IPERF_PORT PORT[ts-splice] PORT[ts-copy] PORT[microsocks] PORT[danted] <<<"$($LIB ports 5)"
PORT[direct]=$IPERF_PORT

iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" --idle-timeout $((DURATION + 60)) >"$RUN/iperf3-server.log" 2>&1 &
STARTED+=($!)
wait_listen "$IPERF_PORT" $! iperf3-server

for mode in splice copy; do
    name=ts-$mode
    cat >"$RUN/$name.json" <<EOF
{
  "server": { "enabled": true, "listen": "127.0.0.1:${PORT[$name]}", "allowPrivateDestinations": true },
  "relay": { "mode": "$mode" },
  "logging": { "level": "debug" }
}
EOF
    "$DAEMON" --config "$RUN/$name.json" >"$RUN/$name.log" 2>&1 &
    PID[$name]=$!
done

microsocks -i 127.0.0.1 -p "${PORT[microsocks]}" >"$RUN/microsocks.log" 2>&1 &
PID[microsocks]=$!

cat >"$RUN/danted.conf" <<EOF
logoutput: stderr
internal: 127.0.0.1 port = ${PORT[danted]}
external: lo
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
danted -f "$RUN/danted.conf" -N 1 -p "$RUN/danted.pid" >"$RUN/danted.log" 2>&1 &
PID[danted]=$!

for name in ts-splice ts-copy microsocks danted; do
    STARTED+=("${PID[$name]}")
    cat >"$RUN/proxychains-$name.conf" <<EOF
strict_chain
quiet_mode
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 127.0.0.1 ${PORT[$name]}
EOF
done
for name in ts-splice ts-copy microsocks danted; do wait_listen "${PORT[$name]}" "${PID[$name]}" "$name"; done

# Idle memory: everything is listening, nothing has connected yet.
sleep 1
idle_json="{"
for name in ts-splice ts-copy microsocks danted; do
    read -r rss pss nprocs <<<"$($LIB mem "${PID[$name]}")"
    idle_json+="\"$name\": {\"rss_kb\": $rss, \"pss_kb\": $pss, \"nprocs\": $nprocs},"
done
idle_json="${idle_json%,}}"

sessions() {      # sessions NAME: connections to the iperf3 server that the proxy's own log reports
    local f=$RUN/$1.log
    case $1 in
        ts-*) grep -c -- "-> 127.0.0.1:$IPERF_PORT via direct" "$f" || true ;;
        microsocks) grep -c -- "connected to 127.0.0.1:$IPERF_PORT" "$f" || true ;;
        danted) grep -cE -- "tcp/connect \[: .*127\.0\.0\.1\.$IPERF_PORT\$" "$f" || true ;;
    esac
}

run_one() {       # run_one NAME fwd|rev ROUND
    local name=$1 dir=$2 round=$3 base=$RUN/$1-$2-$3 before after rc=0
    local -a cmd=(iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t "$DURATION" -J --connect-timeout 5000)
    [[ $dir == rev ]] && cmd+=(-R)
    if [[ $name == direct ]]; then
        timeout $((DURATION + 30)) "${cmd[@]}" >"$base.json" 2>"$base.err" || rc=$?
        $LIB run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" - "$IPERF_PORT" - || rc=$?
    else
        before=$(sessions "$name")
        rm -f "$base.stop"
        $LIB sample "${PID[$name]}" "$base.sample.json" "$base.stop" $((DURATION + 40)) &
        SAMPLER_PID=$!
        timeout $((DURATION + 30)) proxychains4 -f "$RUN/proxychains-$name.conf" "${cmd[@]}" \
            >"$base.json" 2>"$base.err" || rc=$?
        touch "$base.stop"
        wait "$SAMPLER_PID" || true
        SAMPLER_PID=
        after=$(sessions "$name")
        $LIB run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" "$base.sample.json" \
            "${PORT[$name]}" $((after - before)) || rc=$?
    fi
    ((rc == 0)) || die "$name $dir round $round failed (rc $rc; see bench/out/run/$name-$dir-$round.*)"
    sleep 1       # let the iperf3 server go back to listening
}

KERNEL=$(uname -srvm)
CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
COMMIT=$(cat "$OUT/daemon/BUILD-INFO" 2>/dev/null || echo "unknown build")
VERSIONS="$(iperf3 --version | head -n 1 | cut -d' ' -f1-2); $(dpkg-query -W -f='${Package} ${Version}; ' \
    microsocks dante-server proxychains4)"
log "$DATE | $KERNEL | $CPU | $(nproc) cores"
log "iperf3 server :$IPERF_PORT; proxies ts-splice :${PORT[ts-splice]} ts-copy :${PORT[ts-copy]}" \
    "microsocks :${PORT[microsocks]} danted :${PORT[danted]}"
log "$REPEATS round(s) x ${#PROXIES[@]} proxies x 2 directions x ${DURATION}s" \
    "≈ $((REPEATS * ${#PROXIES[@]} * 2 * (DURATION + 2))) s"

for ((round = 1; round <= REPEATS; round++)); do
    log "round $round/$REPEATS"
    n=${#PROXIES[@]}
    for ((k = 0; k < n; k++)); do
        name=${PROXIES[(k + round - 1) % n]}   # rotate the order so no proxy always runs first or last
        run_one "$name" fwd "$round"
        run_one "$name" rev "$round"
    done
done

KERNEL="$KERNEL" CPU="$CPU" DATE="$DATE" COMMIT="$COMMIT" VERSIONS="${VERSIONS%; }" IDLE="$idle_json" \
NPROC=$(nproc) DURATION_S=$DURATION REPEATS_N=$REPEATS PROXY_LIST="${PROXIES[*]}" $PYTHON - >"$RUN/meta.json" <<'EOF'
import json, os
e = os.environ
print(json.dumps({"kernel": e["KERNEL"], "cpu": e["CPU"], "date": e["DATE"], "commit": e["COMMIT"],
                  "versions": e["VERSIONS"], "idle": json.loads(e["IDLE"]), "nproc": int(e["NPROC"]),
                  "duration": int(e["DURATION_S"]), "repeats": int(e["REPEATS_N"]),
                  "proxies": e["PROXY_LIST"].split()}))
EOF
$LIB report "$RUN/results.jsonl" "$RUN/meta.json" >"$BENCH/results/latest.md"
cat "$BENCH/results/latest.md"
log "wrote bench/results/latest.md (raw: bench/out/run/)"
