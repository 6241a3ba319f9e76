#!/usr/bin/env bash
# Ingress opens at start while the replay of the archive waits for a ClickHouse that is down.
# ClickHouse is stopped (its port refuses connections) and beacond has a small max_pending_mb
# and spool: a first run (when_forwarder_full = "shed") takes beacons (200) until its memory and
# spool are full (503), and is
# SIGKILLed; the second start has more to rebuild than max_pending_mb holds. It must answer
# within a bounded time all the same, taking new beacons (200) into its archive; then
# ClickHouse comes back on its port, and every beacon answered 200 by either run lands in it
# exactly once.
#   replay_ingress_test.sh BUILD_DIR [READY_S]
set -euo pipefail
build=$(cd "${1:?usage: replay_ingress_test.sh BUILD_DIR [READY_S]}" && pwd)
ready_s=${2:-30}
work=$(mktemp -d /tmp/beacond-replay-ingress.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test replay_ingress_test 2 5
fail=0
first_site
stop_clickhouse_keeping_port
{
  beacond_base_config
  printf 'flush_interval_ms = 100\nbreakdown_flush_interval_ms = 0\nretry_max_ms = 1000\n'
  printf 'max_pending_mb = 1\nspool_dir = "%s"\nspool_max_mb = 1\n' "$work/spool"
  printf '[pipeline]\nepoch_ms = 100\n[enrich]\nuser_agents = ""\n'
  printf '[archive]\nenabled = true\ncommit = "group"\nwhen_forwarder_full = "shed"\n'
} >"$work/beacond.toml"

step "ClickHouse down: a first run takes beacons until its memory and spool are full"
start_beacond
first_ok=$(send_pageviews 0 200000 20)
echo "first run answered 200: $first_ok"
kill_node "$beacond_pid"
beacond_pid=""
check "the first run took more than max_pending_mb holds (1 MiB spooled too)" \
  test -n "$(find "$work/spool" -name '*.rec' -print -quit)"

step "second start, ClickHouse still down: ingress answers within $ready_s s"
mv "$work/beacond.log" "$work/beacond-first.log"
rm -f "$work/ready"
"$build/appliance/beacond" --config "$work/beacond.toml" --ready-file "$work/ready" \
  2>"$work/beacond.log" &
beacond_pid=$!
for _ in $(seq 1 $((ready_s * 10))); do
  [ -f "$work/ready" ] && break
  kill -0 "$beacond_pid" 2>/dev/null || { cat "$work/beacond.log" >&2; exit 1; }
  sleep 0.1
done
if [ ! -f "$work/ready" ]; then
  tail -n 5 "$work/beacond.log"
  echo "FAILED: ingress did not open within $ready_s s of the start while ClickHouse is down" >&2
  exit 1
fi
echo "ok: ingress open"
http_port=$(sed -n 's/^http_port=//p' "$work/ready")
second=500
second_ok=$(send_pageviews 1000000 "$second" 1)
check "every new beacon answered 200 while ClickHouse is down ($second_ok of $second)" \
  test "$second_ok" -eq "$second"
grep 'replayed' "$work/beacond.log"
check "the replay left epochs to the archive: the forwarder was full" \
  grep -q 'the forwarder is full' "$work/beacond.log"
records=$("$build/tests/integration/archive_count" "$work/state/archive" | awk '{print $2}')
check "the archive holds every beacon answered 200 ($records records)" \
  test "$records" -ge "$((first_ok + second_ok))"

step "ClickHouse back on its port: everything lands"
restart_clickhouse_on_kept_port
total=$((first_ok + second_ok))
wait_until_landed 120
drain_beacond
check_pageviews_once "$total" "$site"
exit $fail
