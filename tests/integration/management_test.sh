#!/usr/bin/env bash
# Integration test: the management listener of a running beacond (no ClickHouse needed). Off
# loopback without a bearer token beacond refuses to start; with one, every route needs it (and a
# Host that is an IP address, localhost or an allowed name; a POST from no page of another
# origin) and beaconctl stats / top send it (from --token-file, $BEACON_MANAGEMENT_TOKEN or
# --config);
# /healthz and /readyz answer from the workers' progress; the example visitor_key is warned
# about; a pre-existing state directory open to others is made 0700, its salts file 0600.
#   management_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: management_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-management.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
flood_pid=""
cleanup() {
  local rc=$?
  [ -n "$beacond_pid" ] && kill -KILL "$beacond_pid" 2>/dev/null || true
  [ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "management_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
fail=0

cp "$root/appliance/examples/sites.conf" "$work/sites.conf"
ch_url="http://127.0.0.1:1"
config() {  # config EXTRA_MANAGEMENT_KEY [LISTEN]: the management listener on LISTEN, 0.0.0.0:0
  beacond_base_config | awk -v extra="$1" -v listen="${2:-0.0.0.0:0}" '
    prev == "[management]" { print "listen = \"" listen "\""; if (extra != "") print extra; prev = ""; next }
    { print; prev = $0 }'
  printf '[enrich]\nuser_agents = ""\n'
}

config "" >"$work/beacond.toml"
set +e
"$build/appliance/beacond" --config "$work/beacond.toml" 2>"$work/refused.log"
rc=$?
set -e
check "off loopback without a token: exit 2 ($rc)" test "$rc" -eq 2
check "... naming the key" grep -q "management.listen: a non-loopback address needs a bearer token" \
  "$work/refused.log"

printf 'm4nagement-t0ken\n' >"$work/token"
chmod 600 "$work/token"
config "token_file = \"$work/token\"" >"$work/beacond.toml"
mkdir -m 0755 "$work/state"
ulimit -n "$(ulimit -Hn)"  # the connection flood below: beacond's table, not its descriptors
start_beacond
base=${metrics_url%/metrics}
auth="Authorization: Bearer m4nagement-t0ken"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
for path in /metrics /healthz /readyz; do
  check "$path without the token: 401" test "$(code "$base$path")" = 401
  check "$path with a wrong token: 401" test "$(code -H "Authorization: Bearer nope" "$base$path")" = 401
  check "$path with the token: 200" test "$(code -H "$auth" "$base$path")" = 200
done
check "/healthz says ok" test "$(curl -s -H "$auth" "$base/healthz")" = ok
# With the token, a request by any name is answered (a rebound page cannot know the token; the
# Host check guards listeners without one: ManagementBrowserTest), by localhost too.
check "/metrics with the token by a DNS name: 200" \
  test "$(code -H "$auth" -H "Host: beacon-1.pop1.example:$management_port" "$base/metrics")" = 200
check "/healthz by localhost: 200" \
  test "$(code -H "$auth" "http://localhost:$management_port/healthz")" = 200
check "nothing refused for its Host" sh -c "curl -s -H '$auth' '$metrics_url' |
  grep -qx 'beacond_management_rejects_total{reason=\"host_not_allowed\"} 0'"
# A POST that a browser says comes from a page of another origin (CSRF) is refused and counted.
check "POST /reload with Origin: http://evil.example: 403" \
  test "$(code -X POST -H "$auth" -H "Origin: http://evil.example" "$base/reload")" = 403
check "... counted" sh -c "curl -s -H '$auth' '$metrics_url' |
  grep -qx 'beacond_management_rejects_total{reason=\"cross_origin\"} 1'"
check "the 401s above are counted" sh -c "curl -s -H '$auth' '$metrics_url' |
  grep -qx 'beacond_management_rejects_total{reason=\"bad_token\"} 6'"
check "/readyz says ready" test "$(curl -s -H "$auth" "$base/readyz")" = ready
# beaconctl sends the token from --token-file, $BEACON_MANAGEMENT_TOKEN or the config.
ctl="$build/appliance/beaconctl"
set +e
"$ctl" stats --metrics-url "$metrics_url" >/dev/null 2>"$work/ctl-refused.log"
rc=$?
set -e
check "beaconctl stats without the token: exit 1 ($rc), HTTP 401" \
  sh -c "test $rc -eq 1 && grep -q 'HTTP 401' '$work/ctl-refused.log'"
check "beaconctl stats --token-file" \
  sh -c "'$ctl' stats --all --metrics-url '$metrics_url' --token-file '$work/token' | grep -q beacond_"
check "beaconctl stats with BEACON_MANAGEMENT_TOKEN" \
  sh -c "BEACON_MANAGEMENT_TOKEN=m4nagement-t0ken '$ctl' stats --all --metrics-url '$metrics_url' | grep -q beacond_"
check "beaconctl stats --config (its [management] token_file)" \
  sh -c "'$ctl' stats --all --metrics-url '$metrics_url' --config '$work/beacond.toml' | grep -q beacond_"
check "beaconctl top --once --config" \
  sh -c "'$ctl' top --once --interval-ms 100 --node 127.0.0.1:$management_port --config '$work/beacond.toml' >/dev/null"
# Without a terminal and with stdin at its end (a script, cron), top must wait out its
# interval between frames, not redraw in a loop: about 4 frames in 1.5 s at 500 ms.
timeout -s INT 1.5 "$ctl" top --interval-ms 500 --node "127.0.0.1:$management_port" \
  --config "$work/beacond.toml" </dev/null >"$work/top-eof.out" 2>&1 || true
frames=$(grep -o $'\x1b\\[H' "$work/top-eof.out" | wc -l)
check "beaconctl top with stdin at EOF draws at its interval ($frames frames)" \
  test "$frames" -ge 1 -a "$frames" -le 8
# The management listener's own HTTP counters: a malformed request is refused and counted.
printf 'GARBAGE\r\n\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.recv(4096)' "$management_port" || true
check "a malformed management request is counted" sh -c "curl -s -H '$auth' '$metrics_url' |
  awk '/^beacond_management_http_parse_rejects_total/ { s += \$2 } END { exit !(s >= 1) }'"
check "the example visitor_key is warned about" \
  grep -q "visitor_key is the example value" "$work/beacond.log"
check "the state directory became 0700" test "$(stat -c %a "$work/state")" = 700
check "the salts file is 0600" test "$(stat -c %a "$work/state/visitor-salts")" = 600
# Unauthenticated peers must not lock out the node's own liveness probe or Prometheus: 4,200
# idle connections from five addresses (more than the listener's table), then 300 that send
# requests by the thousand and never read the answers. The newest connection is served; the
# one idle longest (no byte read or sent) is closed to make room.
flood() {  # flood idle|stalled COUNT
  rm -f "$work/flood-open"
  python3 - "$management_port" "$work/flood-open" "$1" "$2" <<'PY' &
import pathlib, resource, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for i in range(int(sys.argv[4])):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.%d" % (2 + i // 1024), 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.setblocking(False)
    held.append(s)
for _ in range(20 if sys.argv[3] == "stalled" else 0):
    for s in held:
        try:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n" * 20000)
        except OSError:
            pass
    time.sleep(0.05)
pathlib.Path(sys.argv[2]).touch()
time.sleep(60)
PY
  flood_pid=$!
  for _ in $(seq 1 300); do [ -f "$work/flood-open" ] && break; sleep 0.1; done
  check "$2 $1 connections opened" test -f "$work/flood-open"
  sleep 3  # the stalled ones: until the server's answers fill their socket buffers
  local healthz scrape
  healthz=$(code -m 5 -H "$auth" "$base/healthz" || true)
  check "/healthz under $2 $1 connections: 200 ($healthz)" test "$healthz" = 200
  scrape=$(code -m 5 -H "$auth" "$base/metrics" || true)
  check "/metrics under $2 $1 connections: 200 ($scrape)" test "$scrape" = 200
  kill "$flood_pid"
  wait "$flood_pid" 2>/dev/null || true
  flood_pid=""
}
flood idle 4200
flood stalled 300
kill -TERM "$beacond_pid"
wait "$beacond_pid" || true
beacond_pid=""

# beaconctl reload -c reaches the listener its config names: the IPv6 wildcard on [::1].
if port6=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])' 2>/dev/null); then
  rm -f "$work/ready"
  config "token_file = \"$work/token\"" ":::$port6" >"$work/beacond.toml"
  start_beacond
  rc=0
  answer=$("$ctl" reload -c "$work/beacond.toml" 2>&1) || rc=$?
  check "beaconctl reload -c, management on :::$port6: exit 0 ($rc: $answer)" test "$rc" -eq 0
  kill -TERM "$beacond_pid"
  wait "$beacond_pid" || true
  beacond_pid=""
else
  echo "skipped: beaconctl reload -c on an IPv6 listener (no IPv6 loopback)"
fi
exit $fail
