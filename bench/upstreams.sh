#!/usr/bin/env bash
# Upstream groups: how long a failover takes, and what the pre-authenticated pool gains. transparentsocksd
# (NativeAOT) with its SOCKS5 server on loopback, in front of microsocks upstreams; see upstreams.py and
# bench/README.md.
#
#   bash bench/upstreams.sh                    # builds bench/out/daemon unless BUILD=0; about 2 minutes after the build
#   BUILD=0 POOL_CONNS=500 bash bench/upstreams.sh
#
# Output: bench/results/upstreams-latest.md (also on stdout) and .json; logs and configs in bench/out/upstreams-run/.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=upstreams
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$BENCH/lib.sh"
RUN=$OUT/upstreams-run
LIB=("$PYTHON" "$BENCH/conn_rate_lib.py")  # only for lib.sh's stop_pid; upstreams.py runs the processes
POOL_CONNS=${POOL_CONNS:-2000}
[[ $POOL_CONNS =~ ^[0-9]+$ && $POOL_CONNS -ge 10 && $POOL_CONNS -le 20000 ]] || die "POOL_CONNS must be 10..20000"

install_packages microsocks iproute2 clang
require_tools microsocks ss "$PYTHON"
if daemon_needs_build; then
    info=$(worktree_build_info)
    log "building transparentsocksd (NativeAOT, $info) into bench/out/daemon"
    publish_daemon "$REPO" "$info" --artifacts-path "$OUT/artifacts"
fi

rm -rf "$RUN"
mkdir -p "$RUN" "$BENCH/results"
meta="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r), $(dpkg-query -W -f='${Package} ${Version}' microsocks 2>/dev/null), daemon $(cat "$OUT/daemon/BUILD-INFO" 2>/dev/null || echo unknown)"
# upstreams.py starts and stops every process itself, by PID; bounded by this timeout whatever happens.
BENCH_META=$meta POOL_CONNS=$POOL_CONNS DAEMON=$DAEMON timeout 900 "$PYTHON" "$BENCH/upstreams.py" run "$RUN"
log "wrote bench/results/upstreams-latest.md and .json (raw: bench/out/upstreams-run/)"
