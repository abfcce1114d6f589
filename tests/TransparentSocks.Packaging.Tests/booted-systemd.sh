#!/usr/bin/env bash
# The .deb as users run it: a Debian 12 root filesystem booted with systemd-nspawn inside the gateway namespace of
# a client → gateway → target lab. Prints "ok: ..." per check and exits non-zero at the first failure.
#
#   booted-systemd.sh [DEB]     (without DEB, packaging/build-deb.sh builds one)
#
# Needs root, debootstrap, systemd-container, nftables, iproute2, microsocks and python3 on the host. The root
# filesystem is cached under $TS_ROOTFS_CACHE, keyed by what it contains. Everything this starts is stopped by
# PID, and every namespace it makes is deleted, on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CACHE=${TS_ROOTFS_CACHE:-/var/cache/transparentsocks-test}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,iproute2,nftables
MIRROR=${TS_MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

id=tspkg-$$
work=$(mktemp -d "/tmp/$id.XXXXXX")
ns_client=$id-c ns_gw=$id-g ns_target=$id-t
pids=() nspawn_pid= mounted=

log() { echo "== $*"; }
ok() { echo "ok: $*"; }
# TS_HOLD=SECONDS keeps the lab up after a failure, to look around with nsenter.
fail() { echo "FAIL: $*" >&2; [ -z "${TS_HOLD:-}" ] || sleep "$TS_HOLD"; exit 1; }

cleanup() {
  set +e
  if [ -n "$nspawn_pid" ]; then
    # SIGRTMIN+3 asks systemd in the container to halt; SIGKILL if it has not gone after 20 s.
    kill -s SIGRTMIN+3 "$container_pid" 2>/dev/null
    for _ in $(seq 1 200); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -n "$mounted" ] && umount "$work/root"
  for ns in "$ns_client" "$ns_gw" "$ns_target"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- the root filesystem, built once per package list ----------------------------------------------------------
rootfs() {
  local key dir
  key=$(printf '%s %s %s' "$SUITE" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-16)
  dir=$CACHE/rootfs-$key
  mkdir -p "$CACHE"
  (
    flock 9
    if [ ! -f "$dir/.complete" ]; then
      log "debootstrap $SUITE into $dir (cached for later runs)" >&2
      rm -rf "$dir.tmp"
      debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir.tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
      rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
    fi
  ) 9> "$CACHE/.lock"
  echo "$dir"
}

# The host has no systemd as PID 1, so nspawn finds neither of these (LAB.md); both steps are idempotent.
prepare_host() {
  mkdir -p /run/systemd/nspawn
  mountpoint -q /run/systemd/nspawn || mount -t tmpfs tmpfs /run/systemd/nspawn
  local d=/run/systemd/inaccessible
  mkdir -p "$d/dir"
  [ -e "$d/reg" ] || touch "$d/reg"
  [ -e "$d/chr" ] || mknod "$d/chr" c 0 0
  [ -e "$d/blk" ] || mknod "$d/blk" b 0 0
  [ -e "$d/fifo" ] || mkfifo "$d/fifo"
}

# --- the lab: client 198.51.100.2 → gateway (the container) → target 203.0.113.3, upstream 203.0.113.2 -----------------------------
lab() {
  # The gateway is the container's own network namespace. nspawn must create it: booted into a namespace made
  # beforehand (--network-namespace-path), the container's /sys/class/net shows the host's interfaces instead.
  ip netns attach "$ns_gw" "$container_pid"
  ip netns add "$ns_client"; ip netns add "$ns_target"
  ip link add "${id}a" type veth peer name "${id}b"
  ip link set "${id}a" netns "$ns_client"; ip link set "${id}b" netns "$ns_gw"
  ip link add "${id}c" type veth peer name "${id}d"
  ip link set "${id}c" netns "$ns_gw"; ip link set "${id}d" netns "$ns_target"

  ip -n "$ns_client" link set "${id}a" name eth0
  ip -n "$ns_client" addr add 198.51.100.2/24 dev eth0
  ip -n "$ns_client" link set eth0 up; ip -n "$ns_client" link set lo up
  ip -n "$ns_client" route add default via 198.51.100.1

  ip -n "$ns_gw" link set "${id}b" name lan0
  ip -n "$ns_gw" link set "${id}c" name wan0
  ip -n "$ns_gw" addr add 198.51.100.1/24 dev lan0
  ip -n "$ns_gw" addr add 203.0.113.1/24 dev wan0
  ip -n "$ns_gw" link set lan0 up; ip -n "$ns_gw" link set wan0 up; ip -n "$ns_gw" link set lo up
  ip netns exec "$ns_gw" sysctl -qw net.ipv4.ip_forward=1

  ip -n "$ns_target" link set "${id}d" name eth0
  # The upstream's address is bypassed by the daemon's rules, so the HTTP target needs an address of its own.
  ip -n "$ns_target" addr add 203.0.113.2/24 dev eth0
  ip -n "$ns_target" addr add 203.0.113.3/24 dev eth0
  ip -n "$ns_target" link set eth0 up; ip -n "$ns_target" link set lo up
  ip -n "$ns_target" route add default via 203.0.113.1

  # The target answers with the address it was reached from: the upstream's (proxied) or the client's (not).
  ip netns exec "$ns_target" python3 -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("from " + self.client_address[0] + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("203.0.113.3", 80), H).serve_forever()' & pids+=($!)
  ip netns exec "$ns_target" microsocks -i 203.0.113.2 -p 1080 -u gw -P gw-secret > "$work/microsocks.log" 2>&1 & pids+=($!)
  for _ in $(seq 1 100); do
    ip netns exec "$ns_target" ss -Hltn 'sport = :80 or sport = :1080' | grep -c LISTEN | grep -qx 2 && return 0
    sleep 0.1
  done
  fail "target or microsocks did not start"
}

# Runs a command inside the booted container, with all of its namespaces.
in_ct() { nsenter -t "$container_pid" -a "$@"; }

wait_for() { # seconds, description, command...
  local tries=$(( $1 * 10 )) what=$2; shift 2
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what (waited $(( tries / 10 )) s)"
}

boot() {
  local lower=$1
  mkdir -p "$work/upper" "$work/ovl" "$work/root"
  # The cache stays pristine under an overlay; where overlayfs is refused (e.g. /tmp on overlayfs), a copy does.
  if mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/ovl" "$work/root" 2>/dev/null; then
    mounted=1
  else
    cp -a "$lower/." "$work/root/"
  fi
  cp "$DEB" "$work/root/root/transparentsocks.deb"
  # The daemon needs CAP_NET_ADMIN for nft and TPROXY, which nspawn drops unless asked.
  systemd-nspawn -D "$work/root" -b --register=no --keep-unit --console=pipe -M "$id" --private-network \
    --capability=CAP_NET_ADMIN > "$work/console.log" 2>&1 < /dev/null &
  nspawn_pid=$!
  container_pid=
  for _ in $(seq 1 100); do
    for child in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
      [ "$(cat /proc/"$child"/comm 2>/dev/null)" = systemd ] && container_pid=$child
    done
    [ -n "$container_pid" ] && break
    sleep 0.1
  done
  [ -n "$container_pid" ] || { cat "$work/console.log" >&2; fail "systemd did not start in the container"; }
  wait_for 60 "the container reaches running" bash -c "state=\$(nsenter -t $container_pid -a systemctl is-system-running 2>/dev/null); [ \"\$state\" = running ] || [ \"\$state\" = degraded ]"
  ok "container booted (systemd PID $container_pid on the host)"
}

curl_client() { ip netns exec "$ns_client" curl -sS --max-time 5 http://203.0.113.3/; }
table_count() { in_ct nft list tables | grep -c 'inet transparentsocks' || true; }
rule_count() { in_ct ip "$1" rule show | grep -c 'lookup 5453' || true; }
route_count() { in_ct ip "$1" route show table 5453 2>/dev/null | grep -c . || true; }
socket_owner_is_root() {
  local sock_stat
  sock_stat=$(in_ct stat -c '%U:%G %a' /run/transparentsocks/control.sock) || fail "no control socket ($1)"
  [ "$sock_stat" = "root:transparentsocks 660" ] || fail "control socket is $sock_stat, not root:transparentsocks 660 ($1)"
}

# --- main -----------------------------------------------------------------------------------------------------
DEB=${1:-}
if [ -z "$DEB" ]; then
  log "building the .deb"
  DEB=$(bash packaging/build-deb.sh "$work/deb" | tail -n1)
fi
[ -f "$DEB" ] || fail "no .deb at $DEB"
if command -v lintian > /dev/null; then
  lintian --fail-on error "$DEB" > "$work/lintian.log" 2>&1 || { cat "$work/lintian.log" >&2; fail "lintian reports errors"; }
  ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log" || true) warnings)"
fi

lower=$(rootfs)
prepare_host
boot "$lower"
lab
ok "lab: client $ns_client, gateway $ns_gw (the container), target $ns_target"

log "dpkg -i"
in_ct dpkg -i /root/transparentsocks.deb > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
[ "$(in_ct systemctl is-active transparentsocks)" = active ] || { in_ct journalctl -u transparentsocks --no-pager | tail -30 >&2; fail "service not active after dpkg -i"; }
[ "$(in_ct systemctl is-enabled transparentsocks)" = enabled ] || fail "service not enabled"
in_ct getent passwd transparentsocks > /dev/null || fail "no transparentsocks user"
[ "$(in_ct systemctl show -p User --value transparentsocks)" = transparentsocks ] || fail "not running as transparentsocks"
ok "dpkg -i: service enabled and active as user transparentsocks"
[ "$(in_ct systemctl is-active transparentsocks.socket)" = active ] && [ "$(in_ct systemctl is-enabled transparentsocks.socket)" = enabled ] \
  || fail "transparentsocks.socket not enabled and active"
socket_owner_is_root "after dpkg -i"
in_ct journalctl -u transparentsocks --no-pager | grep -q 'control.sock ready (passed by systemd)' || fail "the daemon did not take the socket from systemd"
# NET_BIND_SERVICE (10), NET_ADMIN (12) and NET_RAW (13), and nothing else, bounding and effective.
pid=$(in_ct systemctl show -p MainPID --value transparentsocks)
for set in CapBnd CapEff CapAmb; do
  caps=$(in_ct awk -v k="$set:" '$1 == k { print $2 }' "/proc/$pid/status")
  [ "$caps" = 0000000000003400 ] || fail "$set of the daemon is $caps, not NET_ADMIN, NET_RAW and NET_BIND_SERVICE (0000000000003400)"
done
ok "control socket root:transparentsocks 660 from transparentsocks.socket; the daemon holds only NET_ADMIN, NET_RAW, NET_BIND_SERVICE"

verify=$(in_ct systemd-analyze verify --man=no transparentsocks.service transparentsocks.socket 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify is not clean: $verify"
security=$(in_ct systemd-analyze security --no-pager transparentsocks.service 2>&1 | tail -n1)
echo "$security" | grep -Eq 'exposure level .*: [0-9.]+ (PERFECT|SAFE|OK)' || fail "systemd-analyze security: $security"
ok "systemd-analyze verify clean; security: ${security#*exposure level for transparentsocks.service: }"

# Readiness: with Type=notify, 'systemctl restart' returns once READY=1 came, and by then the port must accept.
for attempt in 1 2 3; do
  in_ct systemctl restart transparentsocks || fail "systemctl restart"
  in_ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/1080' || fail "port 1080 refused right after the unit became active (attempt $attempt)"
done
status=$(in_ct systemctl show -p StatusText --value transparentsocks)
[[ $status == *"0 interfaces, 0 sessions"* ]] || fail "STATUS= not reported: '$status'"
socket_owner_is_root "after 3 restarts"
ok "readiness: active only once the port accepts (3 restarts); status '$status'"
sleep 2
pid=$(in_ct systemctl show -p MainPID --value transparentsocks)
echo "info: idle $(in_ct grep VmRSS "/proc/$pid/status" | tr -s ' \t' ' ')"
# LimitNOFILE=1048576, or as close as the container's own hard limit lets systemd go (no CAP_SYS_RESOURCE here).
ceiling=$(in_ct awk '/Max open files/ { print $5 }' /proc/1/limits)
[ "$ceiling" = unlimited ] || [ "$ceiling" -gt 1048576 ] && ceiling=1048576
nofile=$(in_ct awk '/Max open files/ { print $4 }' "/proc/$pid/limits")
[ "$nofile" = "$ceiling" ] || fail "LimitNOFILE did not apply: the daemon may open $nofile files, the ceiling is $ceiling"
ok "the daemon may open $nofile files (LimitNOFILE=1048576, capped by the container's hard limit $ceiling)"

journal=$(in_ct journalctl -u transparentsocks -o json --no-pager)
echo "$journal" | python3 -c '
import json, sys
entries = [json.loads(l) for l in sys.stdin if l.strip()]
ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "transparentsocksd"]
started = [e for e in ours if e.get("MESSAGE", "").startswith("transparentsocksd started")]
starting = [e for e in ours if e.get("CONFIGPATH") == "/etc/transparentsocks/config.json"]
assert started and all(e["PRIORITY"] == "6" for e in started), "no start-up line at PRIORITY 6"
assert starting, "no CONFIGPATH field on the starting line"
assert all(e.get("_UID") != "0" for e in ours if "_UID" in e), "logged as root"
' || { echo "$journal" | tail -5 >&2; fail "journal lines"; }
ok "journal: start-up lines with PRIORITY=6, SYSLOG_IDENTIFIER and structured fields"
in_ct journalctl -u transparentsocks -t transparentsocksd -n 4 -o short-iso --no-pager | sed 's/^/    /'

log "transparentsocks set endpoint + enable lan0"
printf 'gw-secret\n' > "$work/root/root/upstream.pass"
in_ct transparentsocks set endpoint 203.0.113.2:1080 --username gw --password-file /root/upstream.pass > /dev/null || fail "set endpoint"
in_ct transparentsocks enable lan0 > /dev/null || fail "enable lan0"
body=$(curl_client) || fail "curl through the gateway"
# Forwarded, the target would see the client (198.51.100.2); through microsocks it sees its own network's side.
[[ $body == "from 203.0.113."* ]] || fail "the target saw '$body', not the upstream: the connection was not diverted"
[[ $(in_ct nft list counter inet transparentsocks iface_lan0) =~ packets\ [1-9] ]] || fail "the lan0 counter saw no packets"
[[ $(in_ct journalctl -u transparentsocks -o export --no-pager) == *gw-secret* ]] && fail "the upstream password reached the journal"
# Captured first: under pipefail, grep -q closing the pipe early would fail the writer.
journal=$(in_ct journalctl -u transparentsocks -o json --no-pager)
grep -q '"INTERFACE":"lan0"' <<< "$journal" || fail "no INTERFACE=lan0 field in the journal"
grep -q 'connected to 203.0.113.3:80' "$work/microsocks.log" || fail "microsocks did not see the CONNECT"
[ "$(table_count)" = 1 ] && [ "$(rule_count -4)" = 1 ] || fail "rules or routes missing while enabled"
ok "enable lan0: the client's curl went through microsocks ($body); INTERFACE field present; no password in the journal"

if in_ct transparentsocks doctor > "$work/doctor.log" 2>&1; then
  ok "doctor: all checks pass in the booted gateway"
  sed 's/^/    /' "$work/doctor.log"
else
  cat "$work/doctor.log" >&2; fail "transparentsocks doctor"
fi

in_ct systemctl stop transparentsocks || fail "systemctl stop"
[ "$(table_count)" = 0 ] || fail "nft table left after stop"
[ "$(rule_count -4)" = 0 ] && [ "$(rule_count -6)" = 0 ] || fail "ip rules left after stop"
[ "$(route_count -4)" = 0 ] && [ "$(route_count -6)" = 0 ] || fail "routes left after stop"
[ "$(in_ct systemctl is-active transparentsocks.socket)" != active ] || fail "transparentsocks.socket still active after stopping the service"
in_ct transparentsocks show > /dev/null 2>&1 && fail "the CLI reached a daemon after systemctl stop"
[ "$(in_ct systemctl is-active transparentsocks)" != active ] || fail "a CLI call started the stopped service again"
ok "systemctl stop removed the table, the rules and the routes, and the control socket went with it"

# The restarts above count against the unit's start limit (5 in 10 s); a real crash comes with a fresh count.
in_ct systemctl reset-failed transparentsocks.service
in_ct systemctl start transparentsocks || fail "systemctl start"
main_pid=$(in_ct systemctl show -p MainPID --value transparentsocks)
# systemctl kill can report EIO for a helper process that is exiting at the same moment (seen once with two
# containers booted side by side); the main process is what must die, so kill it by PID if the unit-wide kill complains.
in_ct systemctl kill -s KILL transparentsocks || in_ct /bin/sh -c "kill -KILL $main_pid"
wait_for 30 "restart after SIGKILL" bash -c "pid=\$(nsenter -t $container_pid -a systemctl show -p MainPID --value transparentsocks); [ \"\$pid\" != 0 ] && [ \"\$pid\" != $main_pid ] && [ \"\$(nsenter -t $container_pid -a systemctl is-active transparentsocks)\" = active ]"
[ "$(table_count)" = 1 ] || fail "$(table_count) tables after the restart"
[ "$(rule_count -4)" = 1 ] && [ "$(rule_count -6)" = 1 ] || fail "rules duplicated after the restart: $(in_ct ip rule show)"
body=$(curl_client) || fail "curl after the restart"
[[ $body == "from 203.0.113."* ]] || fail "not diverted after the restart: '$body'"
in_ct transparentsocks show > /dev/null || fail "the control socket did not survive the restart"
socket_owner_is_root "after stop, start and a SIGKILL restart"
ok "SIGKILL: restarted by systemd with exactly one table and one rule per family, still diverting"

in_ct dpkg --purge transparentsocks > "$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; fail "dpkg --purge"; }
for path in /etc/transparentsocks /var/lib/transparentsocks /run/transparentsocks /usr/sbin/transparentsocksd \
    /usr/bin/transparentsocks /usr/lib/transparentsocks /lib/systemd/system/transparentsocks.service \
    /usr/lib/sysusers.d/transparentsocks.conf /etc/systemd/system/multi-user.target.wants/transparentsocks.service \
    /lib/systemd/system/transparentsocks.socket /etc/systemd/system/sockets.target.wants/transparentsocks.socket \
    /usr/lib/tmpfiles.d/transparentsocks.conf; do
  in_ct test -e "$path" && fail "$path left after purge"
done
in_ct getent passwd transparentsocks > /dev/null && fail "user left after purge"
in_ct getent group transparentsocks > /dev/null && fail "group left after purge"
[ "$(table_count)" = 0 ] && [ "$(rule_count -4)" = 0 ] && [ "$(rule_count -6)" = 0 ] && [ "$(route_count -4)" = 0 ] \
  || fail "rules or routes left after purge"
body=$(curl_client) || fail "curl after purge"
[ "$body" = "from 198.51.100.2" ] || fail "after purge the target saw '$body', expected the client itself"
ok "dpkg --purge: no files, user, group, rules or routes; traffic is forwarded directly again"
echo "booted-systemd: all checks passed"
