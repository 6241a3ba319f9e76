#!/usr/bin/env bash
# beaconctl top on a real terminal: tmux runs it against a beacond taking traffic (listed
# twice, as 127.0.0.1 and localhost) and a node where nothing listens; the screen is read
# with capture-pane while keys sort (s), filter (/ ... Enter, Esc) and quit (q). Rates (of
# the node, a format, a site, each worker's CPU) must be non-zero while beacons flow, and
# the totals on screen (a reject reason, a site) must equal beacond's /metrics after.
#   tests/integration/top_tmux_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: top_tmux_test.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v tmux >/dev/null || { echo "top_tmux_test: no tmux (install-deps)" >&2; exit 77; }
work=$(mktemp -d /tmp/beacond-top.XXXXXX)
tmux_socket="beacond-top-$$"
beacond_pid=""
sender_pid=""
cleanup() {
  local rc=$?
  tmux -L "$tmux_socket" kill-server 2>/dev/null || true
  kill_started "$sender_pid" "$beacond_pid"
  "$root/scripts/clickhouse-local" stop "$work/clickhouse" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "top_tmux_test: kept $work" >&2; fi
  exit $rc
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "top_tmux_test: $*" >&2; screen >&2; exit 1; }
. "$root/tests/integration/lib.sh"

step "beacond with traffic"
start_node_with_traffic
management=${metrics_url#http://}
management=${management%/metrics}
port=${management#127.0.0.1:}
dead=$(free_ports 1)
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons 60000 --rate 3000 --seed 4 \
  --truth "$work/truth2.tsv" >/dev/null 2>&1 &
sender_pid=$!

step "beaconctl top in tmux (160 x 80)"
tmux -L "$tmux_socket" new-session -d -s top -x 160 -y 80 \
  "$build/appliance/beaconctl top --node $management --node localhost:$port --node 127.0.0.1:$dead"
screen() { tmux -L "$tmux_socket" capture-pane -p -t top; }
keys() { tmux -L "$tmux_socket" send-keys -t top "$@"; sleep 0.5; }
# Waits up to 10 s for the screen to satisfy the awk program $1 (exit 0).
wait_screen() {
  for _ in $(seq 1 50); do
    screen | awk "$1" && return 0
    sleep 0.2
  done
  return 1
}
# Column $3 of the first row whose first two columns are $1 (a node) and $2.
cell() { screen | awk -v a="$1" -v b="$2" -v col="$3" '$1 == a && $2 == b { print $col; exit }'; }

wait_screen "/^127\\.0\\.0\\.1:$port +up +[1-9]/ { found = 1 } END { exit !found }" ||
  fail "no accepted/s > 0 for 127.0.0.1:$port"
screen
echo "accepted/s: 127.0.0.1 $(cell "127.0.0.1:$port" up 3), localhost $(cell "localhost:$port" up 3)"
[ -n "$(cell "localhost:$port" up 3)" ] || fail "localhost:$port not up"
screen | grep -q "^127.0.0.1:$dead  *down: Couldn't connect to server" || fail "the dead node is not shown down"
for w in 0 1 2; do
  screen | grep -Eq "^127.0.0.1:$port +$w +[0-9]+%" || fail "no CPU for worker $w"
done
screen | grep -Eq "^127.0.0.1:$port +http +collect +[1-9]" || fail "no collect rate"
site_name=$(awk '$1 == 1 { print $2 }' "$work/sites.conf")
screen | grep -Eq "^127.0.0.1:$port +1 +$site_name +[0-9.]*[1-9]" || fail "no accepted/s for site 1"

step "s three times: sorted by accepted/s"
keys s s s
screen | head -1 | grep -q "sort: column 3" || fail "header does not say column 3"
screen | grep -q "accepted/s\\*" || fail "accepted/s not marked"

step "/unknown_site Enter: only that reason"
keys / unknown_site Enter
screen | head -1 | grep -q "filter: unknown_site" || fail "filter not in the header"
screen | grep -Eq "^127.0.0.1:$port +unknown_site +[0-9.]+ +[1-9]" || fail "unknown_site row missing"
! screen | grep -q "bot_user_agent" || fail "bot_user_agent shown through the filter"
! screen | grep -Eq " +http +collect " || fail "formats shown through the filter"

step "Traffic over: the totals on screen are beacond's"
wait "$sender_pid"
sender_pid=""
sleep 2.5  # two refreshes after the last beacon
want=$(curl -fsS "$metrics_url" | awk '$1 == "beacond_rejects_total{reason=\"unknown_site\"}" { print $2 }')
got=$(cell "127.0.0.1:$port" unknown_site 4)
echo "unknown_site rejects: screen $got, /metrics $want"
[ "$got" = "$want" ] || fail "screen shows $got unknown_site rejects, /metrics $want"
[ "$(cell "127.0.0.1:$port" unknown_site 3)" = 0 ] || fail "reject rate not 0 after the traffic"
keys Escape / "$site_name" Enter
want=$(curl -fsS "$metrics_url" |
  awk -v k="beacond_site_events_accepted_total{site=\"1\",name=\"$site_name\"}" '$1 == k { print $2 }')
got=$(screen | awk -v a="127.0.0.1:$port" -v n="$site_name" '$1 == a && $2 == 1 && $3 == n { print $5 }')
echo "site 1 ($site_name) accepted events: screen $got, /metrics $want"
[ -n "$got" ] && [ "$got" = "$want" ] || fail "screen shows $got events of site 1, /metrics $want"

step "Esc clears the filter; q quits"
keys Escape
screen | head -1 | grep -q "filter: none" || fail "Esc did not clear the filter"
screen | grep -q "bot_user_agent" || fail "bot_user_agent missing without a filter"
keys q
for _ in $(seq 1 20); do
  tmux -L "$tmux_socket" has-session -t top 2>/dev/null || { echo "top exited on q"; exit 0; }
  sleep 0.1
done
fail "beaconctl top still running after q"
