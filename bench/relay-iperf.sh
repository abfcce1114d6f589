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
# Settings (environment): DURATION, REPEATS, BUILD, DOTNET, PYTHON, see lib.sh. See bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=relay-iperf
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
RUN=$OUT/run
LIB=("$PYTHON" "$BENCH/relay_iperf_lib.py")
PROXIES=(direct ts-splice ts-copy microsocks danted)

check_common_env
require_root "apt-get, and danted's user.privileged: root"

install_packages iperf3 proxychains4 microsocks dante-server clang
require_tools iperf3 proxychains4 microsocks danted ss "$PYTHON"

if daemon_needs_build; then
    log "building transparentsocksd (NativeAOT) into bench/out/daemon"
    publish_daemon "$REPO" "$(worktree_build_info)"
fi

# ---------------------------------------------------------------- the iperf3 server and the four proxies
rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
declare -A PID PORT

read -r IPERF_PORT "PORT[ts-splice]" "PORT[ts-copy]" "PORT[microsocks]" "PORT[danted]" <<<"$("${LIB[@]}" ports 5)"
PORT[direct]=$IPERF_PORT

iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" --idle-timeout $((DURATION + 60)) >"$RUN/iperf3-server.log" 2>&1 &
STARTED+=($!)
wait_listen "$IPERF_PORT" $! iperf3-server

# Each daemon gets its own control socket: both run at once, and the default path may belong to a daemon that is not
# ours (a second one refuses to start while it is in use).
for mode in splice copy; do
    name=ts-$mode
    cat >"$RUN/$name.json" <<EOF
{
  "server": { "enabled": true, "listen": "127.0.0.1:${PORT[$name]}", "allowPrivateDestinations": true },
  "relay": { "mode": "$mode" },
  "control": { "socket": "$RUN/$name.sock" },
  "logging": { "level": "debug" }
}
EOF
    "$DAEMON" --config "$RUN/$name.json" >"$RUN/$name.log" 2>&1 &
    PID[$name]=$!
done

microsocks -i 127.0.0.1 -p "${PORT[microsocks]}" >"$RUN/microsocks.log" 2>&1 &
PID[microsocks]=$!

write_danted_conf "$RUN/danted.conf" "${PORT[danted]}" lo
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
for name in ts-splice ts-copy microsocks danted; do idle_json+="\"$name\": $(idle_mem "${PID[$name]}"),"; done
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
        "${LIB[@]}" run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" - "$IPERF_PORT" - || rc=$?
    else
        before=$(sessions "$name")
        start_sampler "${PID[$name]}" "$base"
        timeout $((DURATION + 30)) proxychains4 -f "$RUN/proxychains-$name.conf" "${cmd[@]}" \
            >"$base.json" 2>"$base.err" || rc=$?
        stop_sampler "$base"
        after=$(sessions "$name")
        "${LIB[@]}" run "$RUN/results.jsonl" "$base.json" "$name" "$dir" "$round" "$base.sample.json" \
            "${PORT[$name]}" $((after - before)) || rc=$?
    fi
    ((rc == 0)) || die "$name $dir round $round failed (rc $rc; see bench/out/run/$name-$dir-$round.*)"
    sleep 1       # let the iperf3 server go back to listening
}

visit() {         # visit NAME ROUND: every proxy is already running, so a visit is just its two runs
    run_one "$1" fwd "$2"
    run_one "$1" rev "$2"
}

host_facts microsocks dante-server proxychains4
log "iperf3 server :$IPERF_PORT; proxies ts-splice :${PORT[ts-splice]} ts-copy :${PORT[ts-copy]}" \
    "microsocks :${PORT[microsocks]} danted :${PORT[danted]}"
log "$REPEATS round(s) x ${#PROXIES[@]} proxies x 2 directions x ${DURATION}s" \
    "≈ $((REPEATS * ${#PROXIES[@]} * 2 * (DURATION + 2))) s"

run_rounds visit

write_meta IDLE="$idle_json"
write_report latest.md
