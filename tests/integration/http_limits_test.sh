#!/usr/bin/env bash
# Integration test: hostile HTTP clients against a running beacond (no ClickHouse needed: the
# forwarder only retries). Each attack gets its answer and its counter, beacond's RSS stays
# flat, and a valid beacon is still served afterwards:
# - chunked POST /collect of one-byte chunks with 1,000-byte extensions on 8 connections: 413
#   at [http] max_request_bytes, RSS within 20 MB of its start (it held ~60 MB per connection);
# - a request head sent a byte a second: 408 after header_timeout_ms;
# - more connections from one address than max_connections_per_peer: 429 with Retry-After;
# - more connections than max_connections_per_worker: 503 with Retry-After.
#   http_limits_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: http_limits_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-limits.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
holders=()
cleanup() {
  local rc=$?
  for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$beacond_pid" ] && kill -KILL "$beacond_pid" 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "http_limits_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
fail=0
attack="$root/tests/integration/http_attack.py"
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$beacond_pid/status"; }
metric() { curl -sf "$metrics_url" | awk -v s="$1" '$1 == s {print $2}'; }
# Runs the attack NAME ARGS... in the background; its output in $work/NAME.out.
hold_attack() {
  local name=$1
  shift
  python3 "$attack" "$http_port" "$@" >"$work/$name.out" &
  holders+=($!)
}
wait_lines() {  # wait_lines FILE N
  for _ in $(seq 1 300); do
    [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

cp "$root/appliance/examples/sites.conf" "$work/sites.conf"
ch_url="http://127.0.0.1:1"
{
  beacond_base_config
  cat <<TOML
[enrich]
user_agents = ""
TOML
} >"$work/beacond.toml"
sed -i 's/^workers = 1$/workers = 1\nheader_timeout_ms = 1000\nmax_connections_per_peer = 12\nmax_connections_per_worker = 16/' \
  "$work/beacond.toml"
start_beacond

rss_start=$(rss_kb)
hold_attack chunks chunk-extension 8 60000 120
wait_lines "$work/chunks.out" 8
rss_after=$(rss_kb)
echo "RSS before ${rss_start} kB, after 8 chunk-extension connections ${rss_after} kB"
check "every chunk-extension connection answered 413" \
  test "$(awk '$1 == 413' "$work/chunks.out" | wc -l)" -eq 8
check "RSS within 20 MB of its start" test $((rss_after - rss_start)) -lt 20480
check "413s counted" \
  test "$(metric 'beacond_http_limit_rejects_total{reason="request_too_large"}')" -eq 8

slow=$(python3 "$attack" "$http_port" slowloris 10)
check "a head trickled a byte a second answered 408 within 3 s ($slow)" \
  awk -v l="$slow" 'BEGIN { split(l, f, " "); exit !(f[1] == 408 && f[2] <= 3) }'
check "408 counted" \
  test "$(metric 'beacond_http_limit_rejects_total{reason="head_timeout"}')" -eq 1

hold_attack peers hold 14 120
wait_lines "$work/peers.out" 14
check "12 connections per address held, 2 more answered 429" \
  test "$(tr '\n' ' ' <"$work/peers.out")" = "0 0 0 0 0 0 0 0 0 0 0 0 429 429 "
check "429s counted" \
  test "$(metric 'beacond_http_limit_rejects_total{reason="peer_limit"}')" -eq 2

# The worker's 16 places: 12 held from 127.0.0.1, 4 more from 127.0.0.2, the 5th refused.
other=$(python3 - "$http_port" <<'PY'
import socket, sys
held = []
for _ in range(5):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(1)
    held.append(s)
    try:
        data = s.recv(64)
        print(int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0, end=" ")
    except socket.timeout:
        print(0, end=" ")
PY
)
check "a full worker answers 503 ($other)" test "$other" = "0 0 0 0 503 "
check "503s counted" \
  test "$(metric 'beacond_http_limit_rejects_total{reason="worker_full"}')" -eq 1

for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
holders=()
sleep 0.5
status=$(curl -s -o /dev/null -w '%{http_code}' \
  "http://127.0.0.1:$http_port/collect?v=1&tid=UA-100001-1&cid=1.2&t=pageview&dl=https%3A%2F%2Fshop.example%2F")
check "a valid beacon is still served ($status)" test "$status" = 200
exit $fail
