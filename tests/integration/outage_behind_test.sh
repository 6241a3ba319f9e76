#!/usr/bin/env bash
# ClickHouse goes down while beacond runs with [archive] when_forwarder_full = "archive": once
# the forwarder's memory is full (max_pending_mb = 1, no spool) the worker falls behind instead
# of answering 503, and takes every beacon into its archive; /readyz stays 200. beacond is
# SIGKILLed while behind and started again (still down), then ClickHouse comes back and beacond
# is SIGKILLed at random points of its catch-up, KILLS times. Every beacon answered 200 by any
# run must be in site_minutes and in breakdown_minutes exactly once.
#   outage_behind_test.sh BUILD_DIR [KILLS]
set -euo pipefail
build=$(cd "${1:?usage: outage_behind_test.sh BUILD_DIR [KILLS]}" && pwd)
kills=${2:-3}
work=$(mktemp -d /tmp/beacond-outage-behind.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test outage_behind_test 2 11
fail=0
first_site
outage_config archive >"$work/beacond.toml"

total=0
metric() {  # NAME: its value summed over the series beacond exposes (0 when absent)
  curl -fsS "$metrics_url" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 }
    END { print s + 0 }'
}

step "ClickHouse up, then down while beacond runs"
restart_beacond
ok=$(send_pageviews 0 300 1)
total=$((total + ok))
check "answered 200 while ClickHouse is up ($ok of 300)" test "$ok" -eq 300
stop_clickhouse_keeping_port

step "ClickHouse down: the worker falls behind rather than shed"
sent=0
while [ "$(metric beacond_worker_fell_behind_total)" -eq 0 ] && [ "$sent" -lt 100000 ]; do
  ok=$(send_pageviews $((100000 + sent)) 2000 1)
  total=$((total + ok))
  check "every beacon answered 200 ($ok of 2000)" test "$ok" -eq 2000
  [ "$ok" -eq 2000 ] || break
  sent=$((sent + 2000))
done
echo "sent $sent beacons while ClickHouse is down"
check "a worker fell behind" test "$(metric beacond_worker_fell_behind_total)" -ge 1
check "it is behind" test "$(metric beacond_worker_behind)" -eq 1
ok=$(send_pageviews 300000 1000 1)
total=$((total + ok))
check "behind, every beacon answered 200 ($ok of 1000)" test "$ok" -eq 1000
check "nothing shed" test "$(metric beacond_http_requests_shed_total)" -eq 0
check "/readyz answers 200 while behind" \
  curl -fsS -o /dev/null "http://127.0.0.1:$management_port/readyz"

step "kill -9 while behind; the next start replays and falls behind again"
kill_node "$beacond_pid"
beacond_pid=""
restart_beacond
ok=$(send_pageviews 400000 500 1)
total=$((total + ok))
check "after the restart, every beacon answered 200 ($ok of 500)" test "$ok" -eq 500

step "ClickHouse back; $kills kills in the catch-up"
catch_up_kill_loop "$kills" 500000

step "everything lands once"
wait_until_landed
check "caught up: no worker behind" test "$(metric beacond_worker_behind)" -eq 0
drain_beacond
check_pageviews_once "$total" "$site"
exit $fail
