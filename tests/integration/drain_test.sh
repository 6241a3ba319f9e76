#!/usr/bin/env bash
# Integration test: SIGTERM's drain against a ClickHouse that takes the TCP connection and the
# request but never answers. beacond (timeout_ms 10 minutes, --drain-timeout DRAIN) must exit
# within DRAIN + 3 s with exit 3, every accepted event in the spool and its last log line
# saying so (0 lost); a restart against a working ClickHouse sends them exactly once. And the
# shipped unit's TimeoutStopSec leaves that drain room.
#   drain_test.sh BUILD_DIR [BEACONS] [DRAIN]
set -euo pipefail
build=$(cd "${1:?usage: drain_test.sh BUILD_DIR [BEACONS] [DRAIN]}" && pwd)
beacons=${2:-500}
drain=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-drain.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
silent_pid=""
trap 'rc=$?; kill_started "$silent_pid"; end_test drain_test $rc' EXIT
fail=0
# shellcheck disable=SC2317  # called through check
last_line_says() { tail -n 1 "$work/beacond.log" | grep -qF "$1"; }

step "the unit's stop timeout"
unit=$root/appliance/examples/beacond.service
unit_drain=$(sed -n 's/^ExecStart=.*--drain-timeout \([0-9]*\).*/\1/p' "$unit")
stop=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
echo "TimeoutStopSec=$stop, --drain-timeout $unit_drain"
# The margin covers epochs closing, spooling what is left after the deadline, and exit.
check "TimeoutStopSec exceeds the drain deadline by 10 s or more" test "$stop" -ge $((unit_drain + 10))

step "a ClickHouse that never answers"
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)  # never accepted: the kernel completes each handshake and buffers the request
print(s.getsockname()[1], flush=True)
time.sleep(3600)
' >"$work/silent.port" &
silent_pid=$!
for _ in $(seq 1 50); do [ -s "$work/silent.port" ] && break; sleep 0.1; done
silent_url="http://127.0.0.1:$(cat "$work/silent.port")"
cp "$root/appliance/examples/sites.conf" "$work/sites.conf"
write_config() {  # CH_URL
  {
    beacond_config "$work" 127.0.0.1:0 1 "$1" beacon
    cat <<TOML
timeout_ms = 600000
flush_interval_ms = 200
breakdown_flush_interval_ms = 0
spool_dir = "$work/spool"
[pipeline]
epoch_ms = 100
[enrich]
user_agents = ""
TOML
  } >"$work/beacond.toml"
}
write_config "$silent_url"
BEACOND_ARGS="--drain-timeout $drain" start_beacond

step "$beacons pageviews, then SIGTERM"
python3 - "$http_port" "$beacons" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
for i in range(n):
    s.sendall((f"GET /collect?v=1&tid=UA-100001-1&cid={i}.1&t=pageview&dl=https%3A%2F%2Fshop.example%2Fp{i % 7} "
               "HTTP/1.1\r\nHost: t\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got or not got.endswith(b"\x3b"):
        got += s.recv(65536)
    if not got.startswith(b"HTTP/1.1 200"):
        sys.exit("beacon %d answered %r" % (i, got[:40]))
PY
sleep 2  # epochs closed, batches built, the first insert waiting on the silent server
stop_beacond_timed
check "exit 3: not everything drained" test "$stop_rc" -eq 3
check "exited within the drain deadline + 3 s ($stop_took s)" \
  awk -v t="$stop_took" -v d="$drain" 'BEGIN { exit !(t <= d + 3) }'
check "the last line accounts for every beacon: all spooled, none lost" last_line_says \
  "stopped; $beacons events accepted, 0 acknowledged by ClickHouse, $beacons spooled for the next start, 0 dead-lettered, 0 lost"
records=$(find "$work/spool" -path '*/shard-*' -name '*.rec' | wc -l)
check "the spool holds the batches ($records records)" test "$records" -ge 1
mv "$work/beacond.log" "$work/beacond-silent.log"

step "restart against a working ClickHouse"
kill_started "$silent_pid"
silent_pid=""
ch_url=$("$root/scripts/clickhouse-local" start "$work/clickhouse" | tail -n 1)
"$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database beacon >/dev/null
write_config "$ch_url"
rm -f "$work/ready"
start_beacond
for _ in $(seq 1 300); do
  left=$(curl -fsS "$metrics_url" | awk '/^beacond_forward_spool_records/ { n += $2 } END { print n + 0 }')
  [ "$left" -eq 0 ] && break
  sleep 0.1
done
drain_beacond
check_pageviews_once "$beacons" 1
check "the restart's last line says it sent the earlier run's spool" last_line_says \
  "; $beacons events of earlier runs' spool acknowledged; the spool holds 0 batches"
exit $fail
