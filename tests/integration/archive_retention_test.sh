#!/usr/bin/env bash
# Archive retention enforced by a running beacond: with [archive] max_mb = 1 and 1 MiB segments,
# BEACONS beacons fill several segments. While ClickHouse has acknowledged none of them, no
# segment is deleted (the archive is the write-ahead log: retention never passes a worker's
# replay start). Restarted against a real ClickHouse, beacond replays and forwards them, the
# watermarks move, and within a retention period (10 s) the oldest closed segments are deleted
# until the archive fits; the open segment is kept and still written, and
# beacond_archive_retention_deleted_{segments,bytes}_total and beacond_archive_disk_bytes say so.
#   archive_retention_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: archive_retention_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-60000}
work=$(mktemp -d /tmp/beacond-archive-retention.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test archive_retention_test 20 9

metric() { curl -fsS "$metrics_url" | awk -v m="$1" '$1 == m {print $2}'; }
archive_bytes() { find "$work/state/archive" -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
segments() { find "$work/state/archive" -name '*.seg' | wc -l; }
config() {  # CLICKHOUSE_URL
  beacond_config "$work" 127.0.0.1:0 1 "$1" beacon
  printf 'breakdown_flush_interval_ms = 1000\n'
  printf '[enrich]\nuser_agents = ""\n'
  printf '[archive]\nenabled = true\ncommit = "interval"\nsegment_mb = 1\nmax_mb = 1\n'
}
fail=0

step "beacond, one worker, 1 MiB segments, max_mb = 1, ClickHouse unreachable"
config http://127.0.0.1:1 >"$work/beacond.toml"
start_beacond

step "$beacons beacons; nothing acknowledged, so nothing may be deleted"
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --seed 9 --truth "$work/truth.tsv" >/dev/null
sleep 12  # more than one retention period
held=$(archive_bytes)
echo "unacknowledged: $(segments) segments of $held bytes"
check "no segment deleted while nothing is acknowledged" \
  test "$(metric beacond_archive_retention_deleted_segments_total)" = 0
check "the archive outgrew max_mb meanwhile" test "$held" -gt $((2 << 20))
kill -KILL "$beacond_pid"
wait "$beacond_pid" 2>/dev/null || true

step "restarted against ClickHouse: replayed, acknowledged, then deleted"
config "$ch_url" >"$work/beacond.toml"
rm -f "$work/ready"
start_beacond
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
