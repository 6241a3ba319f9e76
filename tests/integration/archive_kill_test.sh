#!/usr/bin/env bash
# The raw archive as the write-ahead log, against a running beacond: with [archive] commit =
# "group", every beacon request answered 2xx is in the archive after a SIGKILL sent right after
# the last answer (and no record holds the clients' address). No ClickHouse: the forwarder's
# target refuses, which does not touch the ingress side.
#   archive_kill_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: archive_kill_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-20000}
work=$(mktemp -d /tmp/beacond-archive-kill.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
beacond_pid=""
finish() {
  local rc=$?
  if [ -n "$beacond_pid" ] && kill -0 "$beacond_pid" 2>/dev/null; then kill -KILL "$beacond_pid"; fi
  if [ $rc -eq 0 ]; then rm -rf "$work"; else echo "archive_kill_test: kept $work" >&2; fi
  exit $rc
}
trap finish EXIT

step "beacond with the archive on (group commit), 2 workers"
"$build/bench/gen/beacon-gen" sites --sites 20 --seed 5 --out "$work/sites.conf" >/dev/null
{
  beacond_config "$work" 127.0.0.1:0 2 http://127.0.0.1:1 beacon
  printf '[enrich]\nuser_agents = ""\n[archive]\nenabled = true\ncommit = "group"\n'
} >"$work/beacond.toml"
start_beacond

step "$beacons beacons over HTTP (keep-alive, pipelined), then SIGKILL at once"
report=$("$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --connections 8 --pipeline 4 \
  --seed 5 --truth "$work/truth.tsv")
kill -KILL "$beacond_pid"
wait "$beacond_pid" 2>/dev/null || true
beacond_pid=""
echo "$report"
acknowledged=$(sed -n 's/.* \([0-9]*\) requests, .*/\1/p' <<<"$report")

step "every acknowledged beacon is in the archive"
counted=$("$build/tests/integration/archive_count" "$work/state/archive" --forbid 127.0.0.1)
echo "$counted"
records=$(awk '{print $2}' <<<"$counted")
if [ "$records" -ne "$acknowledged" ]; then
  echo "archive_kill_test: $acknowledged requests acknowledged, $records archived" >&2
  exit 1
fi
echo "archive_kill_test: $acknowledged acknowledged = $records archived"
