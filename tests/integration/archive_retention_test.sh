#!/usr/bin/env bash
# Archive retention enforced by a running beacond: with [archive] max_mb = 1 and 1 MiB segments,
# BEACONS beacons fill several segments; within a retention period (10 s) the oldest closed ones
# are deleted until the archive fits, the open segment is kept and still written, and
# beacond_archive_retention_deleted_{segments,bytes}_total and beacond_archive_disk_bytes say so.
# No ClickHouse: the forwarder's target refuses, which does not touch the archive.
#   archive_retention_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: archive_retention_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-60000}
work=$(mktemp -d /tmp/beacond-archive-retention.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
beacond_pid=""
# lib.sh's end_test: kills beacond (no ClickHouse to stop), keeps $work when the test failed.
trap 'end_test archive_retention_test $?' EXIT

metric() { curl -fsS "$metrics_url" | awk -v m="$1" '$1 == m {print $2}'; }
archive_bytes() { find "$work/state/archive" -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
segments() { find "$work/state/archive" -name '*.seg' | wc -l; }

step "beacond, one worker, 1 MiB segments, max_mb = 1"
"$build/bench/gen/beacon-gen" sites --sites 20 --seed 9 --out "$work/sites.conf" >/dev/null
{
  beacond_config "$work" 127.0.0.1:0 1 http://127.0.0.1:1 beacon
  printf '[enrich]\nuser_agents = ""\n'
  printf '[archive]\nenabled = true\ncommit = "interval"\nsegment_mb = 1\nmax_mb = 1\n'
} >"$work/beacond.toml"
start_beacond

step "$beacons beacons"
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --seed 9 --truth "$work/truth.tsv" >/dev/null
fail=0
deleted=0
for _ in $(seq 1 30); do
  deleted=$(metric beacond_archive_retention_deleted_segments_total)
  [ "${deleted:-0}" -gt 0 ] && break
  sleep 1
done
echo "deleted segments: $deleted; $(segments) segments of $(archive_bytes) bytes left"
check "retention deleted segments" test "${deleted:-0}" -gt 0
check "deleted bytes counted" test "$(metric beacond_archive_retention_deleted_bytes_total)" -gt 0
# The limit holds once the deletion is done, except for the worker's open segment (never deleted).
check "what is left fits 1 MiB plus the open segment" test "$(archive_bytes)" -le $((2 << 20))
check "beacond_archive_disk_bytes measured the archive" test "$(metric beacond_archive_disk_bytes)" -gt 0

step "the open segment was kept: more beacons are archived"
before=$("$build/tests/integration/archive_count" "$work/state/archive" | awk '{print $2}')
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons 100 --seed 10 --truth "$work/truth2.tsv" >/dev/null
sleep 1
after=$("$build/tests/integration/archive_count" "$work/state/archive" | awk '{print $2}')
check "records grew ($before -> $after)" test "$after" -gt "$before"
check "archive_count reads what is left without damage" \
  grep -q "torn 0 corrupt 0" <("$build/tests/integration/archive_count" "$work/state/archive")
[ $fail -eq 0 ]
echo "archive_retention_test: retention kept the archive at its limit"
