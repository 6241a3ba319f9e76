#!/usr/bin/env bash
# A worker "behind" (its start replay refused by a full forwarder) survives kills and drains.
# ClickHouse is down and beacond has max_pending_mb = 1 and breakdown cuts every 300 ms: a first
# run (when_forwarder_full = "shed") takes beacons until it sheds and is SIGKILLed; the next start is behind, takes beacons
# (200) into its archive and is stopped with SIGTERM while ClickHouse is still down (exit 3:
# left to the next start); then ClickHouse comes back and beacond is SIGKILLed at random points
# of its catch-up, restarted, and fed again, KILLS times. Every beacon answered 200 by any run
# must be in site_minutes and in breakdown_minutes exactly once.
#   behind_kill_test.sh BUILD_DIR [KILLS]
set -euo pipefail
build=$(cd "${1:?usage: behind_kill_test.sh BUILD_DIR [KILLS]}" && pwd)
kills=${2:-4}
work=$(mktemp -d /tmp/beacond-behind-kill.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test behind_kill_test 2 7
fail=0
first_site
stop_clickhouse_keeping_port
outage_config shed >"$work/beacond.toml"

total=0

step "ClickHouse down: a first run takes beacons until the forwarder is full, then kill -9"
restart_beacond
ok=$(send_pageviews 0 200000 20)
total=$((total + ok))
echo "answered 200: $ok"
kill_node "$beacond_pid"
beacond_pid=""

step "second start, behind: takes beacons, then SIGTERM while ClickHouse is down"
BEACOND_ARGS="--drain-timeout 5" restart_beacond
check "the replay fell behind" grep -q 'the forwarder is full' "$work/beacond.log"
ok=$(send_pageviews 1000000 1000 1)
total=$((total + ok))
check "every beacon answered 200 while behind ($ok of 1000)" test "$ok" -eq 1000
stop_beacond_timed
check "the drain while behind exits 3 (left to the next start)" test "$stop_rc" -eq 3
check "its stop line loses nothing and leaves every event accepted to the next start" \
  grep -Eq 'stopped; ([0-9]+) events accepted, .* 0 lost .*, \1 left in the archive' \
  "$work/beacond.log"

step "third start, behind; ClickHouse back; $kills kills in the catch-up"
restart_beacond
ok=$(send_pageviews 2000000 1000 1)
total=$((total + ok))
catch_up_kill_loop "$kills" 3000000

step "everything lands once"
wait_until_landed
drain_beacond
check_pageviews_once "$total" "$site"
exit $fail
