#!/usr/bin/env bash
# Integration test: a flood of random page paths, referrers, campaigns and event names (and hits
# for random tracking ids, rejected as unknown_site) through beacond into a real ClickHouse.
# Small top-K limits make every dimension fold. Checks: rows per (site, minute, dimension) in
# ClickHouse <= 2K + 1 (two workers' batches of K values each, and (other)); the sums stay exact (every dimension's rows add up to
# site_minutes); the aggregator's memory gauge never exceeds its bound
# (beacond_aggregator_bytes_bound); the folds and the unknown sites are counted.
#   flood_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: flood_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-60000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/beacond-flood.XXXXXX)
. "$root/tests/integration/lib.sh"
beacond_pid=""
sampler_pid=""
cleanup() {
  local rc=$?
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  end_test flood_test "$rc"
}
trap cleanup EXIT
fail=0
check() {  # check DESCRIPTION CONDITION...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what" >&2; fail=1; fi
}

# K per dimension, as configured below ([pipeline] max_*_per_site_minute).
declare -A K=([page]=20 [referrer]=10 [utm_source]=5 [utm_medium]=5 [utm_campaign]=5
  [event]=10 [country]=676 [device]=5 [browser]=40 [os]=22)

start_clickhouse_and_sites 5 3
{
  beacond_base_config 127.0.0.1:0 2
  cat <<TOML
# Every worker's breakdown rows in one batch at the drain: K + 1 per key and worker.
breakdown_flush_interval_ms = 600000
[pipeline]
max_pages_per_site_minute = ${K[page]}
max_referrers_per_site_minute = ${K[referrer]}
max_utm_sources_per_site_minute = ${K[utm_source]}
max_utm_mediums_per_site_minute = ${K[utm_medium]}
max_utm_campaigns_per_site_minute = ${K[utm_campaign]}
max_event_names_per_site_minute = ${K[event]}
TOML
} >"$work/beacond.toml"
start_beacond

# Samples the memory gauges while the flood runs: bytes and bound per worker, every 100 ms.
(
  while true; do
    curl -fsS "$metrics_url" 2>/dev/null | awk '
      /^beacond_aggregator_bytes\{/ { split($1, a, "\""); bytes[a[2]] = $2 }
      /^beacond_aggregator_bytes_bound\{/ { split($1, a, "\""); bound[a[2]] = $2 }
      END { for (w in bytes) print w, bytes[w], bound[w] }' >>"$work/memory.txt" || true
    sleep 0.1
  done
) &
sampler_pid=$!

"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" --flood \
  --sites-file "$work/sites.conf" --beacons "$beacons" --seed 5 --malformed-share 0.2 \
  --bot-share 0 --connections 4 --pipeline 8 --rate 20000 --truth "$work/truth.tsv"
"$build/bench/gen/beacon-gen" wait-metrics --metrics-url "$metrics_url" \
  --truth "$work/truth.tsv" --timeout-s 60
kill "$sampler_pid"
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
curl -fsS "$metrics_url" >"$work/metrics.txt"
kill -TERM "$beacond_pid"
wait "$beacond_pid"
beacond_pid=""

metric() { awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' \
  "$work/metrics.txt"; }
query() { curl -fsS "$ch_url/" --data-binary "$1 FORMAT TSV"; }

# Values per (site, minute, dimension): each worker's batch holds at most K and (other), and
# batches are per worker (deterministic, so that a replay rebuilds them): at most 2K + 1.
query "SELECT dimension, max(c) FROM (SELECT site_id, minute, dimension, uniqExact(value) AS c
       FROM beacon.breakdown_minutes GROUP BY site_id, minute, dimension) GROUP BY dimension" \
  >"$work/rows.tsv"
echo "largest number of values of a (site, minute, dimension):"
cat "$work/rows.tsv"
while read -r dimension most; do
  check "$dimension: $most values <= 2 workers x K ${K[$dimension]} + 1" \
    [ "$most" -le $((2 * K[$dimension] + 1)) ]
done <"$work/rows.tsv"
for dimension in page referrer utm_campaign event; do
  check "$dimension has an (other) row" [ "$(query "SELECT count() FROM beacon.breakdown_minutes
    WHERE dimension = '$dimension' AND value = '(other)'")" -gt 0 ]
  folded=$(metric "beacond_breakdown_folded_total{dimension=\"$dimension\"}")
  check "folds of $dimension counted ($folded hits)" [ "${folded%.*}" -gt 0 ]
done

# Folding never loses a hit: per site, each dimension's rows sum to site_minutes.
mismatches=$(query "
  SELECT count() FROM (
    SELECT site_id, pageviews, events FROM (
      SELECT site_id, sum(pageviews) AS pageviews, sum(events) AS events
      FROM beacon.site_minutes GROUP BY site_id)
    ANY INNER JOIN (
      SELECT site_id, sumIf(pageviews, dimension = 'page') AS page_pv,
             sumIf(events, dimension = 'event') AS event_ev,
             sumIf(pageviews, dimension = 'referrer') AS referrer_pv,
             sumIf(pageviews + events, dimension = 'device') AS device_hits
      FROM beacon.breakdown_minutes GROUP BY site_id) USING site_id
    WHERE page_pv != pageviews OR event_ev != events OR referrer_pv != pageviews
       OR device_hits != pageviews + events)")
# (The flood gives every pageview a random referrer and every hit a device.)
check "per site, page/event/referrer/device rows sum to site_minutes" [ "$mismatches" -eq 0 ]
truth_pv=$(awk -F'\t' '$1 == "site_minute" { s += $4 } END { print s + 0 }' "$work/truth.tsv")
check "pageviews in ClickHouse equal the truth ($truth_pv)" \
  [ "$(query "SELECT sum(pageviews) FROM beacon.site_minutes")" -eq "$truth_pv" ]

# Random site ids are rejected and counted, never stored.
truth_unknown=$(awk -F'\t' '$1 == "reject" && $2 == "unknown_site" { print $3 }' "$work/truth.tsv")
got_unknown=$(metric 'beacond_rejects_total{reason="unknown_site"}')
check "unknown_site rejects counted: $got_unknown, truth $truth_unknown" \
  test "${got_unknown%.*}" -eq "$truth_unknown" -a "$truth_unknown" -gt 0
check "only registry sites stored" \
  [ "$(query "SELECT count() FROM beacon.site_minutes WHERE site_id > 5")" -eq 0 ]

# Memory: every sample within its bound.
samples=$(wc -l <"$work/memory.txt")
over=$(awk '$2 > $3 { n++ } END { print n + 0 }' "$work/memory.txt")
largest=$(awk '$2 > m { m = $2; b = $3 } END { printf "%d bytes (bound then %d)", m, b }' \
  "$work/memory.txt")
echo "memory: $samples samples, largest $largest"
check "memory samples taken" [ "$samples" -gt 5 ]
check "beacond_aggregator_bytes <= beacond_aggregator_bytes_bound in every sample" [ "$over" -eq 0 ]
exit $fail
