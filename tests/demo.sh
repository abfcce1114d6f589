#!/usr/bin/env bash
# End-to-end demo on loopback: curl → transparentsocksd (SOCKS5 server, NativeAOT) → microsocks (the upstream,
# standing in for sing-box) → an HTTP target. Everything it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DAEMON=${DAEMON:-artifacts/publish/transparentsocksd}
[ -x "$DAEMON" ] || { echo "build first: make publish (expected $DAEMON)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { # a port nobody listens on, from the ephemeral range
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  echo "no free port" >&2; exit 1
}

wait_listen() { # port, bounded to 10 s
  for _ in $(seq 1 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done
  echo "nothing listens on $1" >&2; return 1
}

target_port=$(free_port); upstream_port=$(free_port); server_port=$(free_port)

echo "== target: HTTP on 127.0.0.1:$target_port (ncat)"
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 33\r\nConnection: close\r\n\r\nhello through the proxy chain :)\n' > "$work/response"
ncat -lk 127.0.0.1 "$target_port" --sh-exec "cat $work/response" & pids+=($!)

echo "== upstream: microsocks on 127.0.0.1:$upstream_port with auth (stands in for sing-box)"
microsocks -i 127.0.0.1 -p "$upstream_port" -u upstream -P upstream-pass 2> "$work/microsocks.log" & pids+=($!)

cat > "$work/config.json" <<JSON
// Demo config: a SOCKS5 server for one user, chained through the upstream.
{
  "server": {
    "enabled": true,
    "listen": "127.0.0.1:$server_port",
    "users": [ { "username": "demo", "password": "demo-pass" } ],
    // The demo target lives on loopback, which the deny-list refuses by default.
    "allowPrivateDestinations": true,
    "outbound": "upstream"
  },
  "upstream": { "address": "127.0.0.1:$upstream_port", "username": "upstream", "password": "upstream-pass" }
}
JSON

echo "== transparentsocksd on 127.0.0.1:$server_port ($(du -h "$DAEMON" | cut -f1) NativeAOT binary)"
"$DAEMON" --config "$work/config.json" > "$work/daemon.log" 2>&1 & daemon=$!; pids+=($daemon)
wait_listen "$target_port"; wait_listen "$upstream_port"; wait_listen "$server_port"

echo
echo "\$ curl -x socks5h://demo:***@127.0.0.1:$server_port http://localhost:$target_port/"
curl -sS --max-time 10 -x "socks5h://demo:demo-pass@127.0.0.1:$server_port" "http://localhost:$target_port/"
echo
echo "== the upstream saw the CONNECT:"
grep -m1 "connected to" "$work/microsocks.log" || { echo "microsocks logged no CONNECT" >&2; exit 1; }
echo "== a wrong password is refused:"
if curl -sS --max-time 10 -x "socks5h://demo:wrong@127.0.0.1:$server_port" "http://localhost:$target_port/" 2>&1; then
  echo "unexpected success" >&2; exit 1
fi
echo "== daemon RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$daemon/status)"
kill -TERM "$daemon"; wait "$daemon" || true
echo "== daemon log:"
cat "$work/daemon.log"
echo
echo "demo OK"
