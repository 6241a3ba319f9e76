#!/usr/bin/env bash
# beaconctl archive replay against a real ClickHouse: beacond archives and forwards BEACONS GA
# beacons plus Plausible and Snowplow requests (visitors from the address hash, Snowplow's own
# ua); then the archive's time range is replayed into a second database with 1 thread, again
# with 2 threads (the same batch ids: nothing lands twice), and again after dropping the
# partitions (the backfill of docs/operations.md); site_minutes and breakdown_minutes must equal
# what the live run wrote each time. Last, a replay of one site (--sites) holds exactly that
# site's rows.
#   archive_replay_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: archive_replay_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-20000}
work=$(mktemp -d /tmp/beacond-archive-replay.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test archive_replay_test 20 7
echo "901 shop G-SHOP1,shop.example,shopapp shop.example,*.shop.example" >>"$work/sites.conf"

q() { curl -fsS "$ch_url" --data-binary "$1"; }
# The aggregates of DB, as an analyst reads them: one line per key, sums and merged sketches.
snapshot() {  # DB [WHERE]
  q "SELECT site_id, minute, sum(pageviews), sum(events), uniqHLL12Merge(visitors)
     FROM $1.site_minutes ${2:-} GROUP BY site_id, minute ORDER BY site_id, minute FORMAT TSV"
  q "SELECT site_id, minute, dimension, value, sum(pageviews), sum(events),
     uniqHLL12Merge(visitors) FROM $1.breakdown_minutes ${2:-}
     GROUP BY site_id, minute, dimension, value
     ORDER BY site_id, minute, dimension, value FORMAT TSV"
}
same_as_live() {  # DB [WHERE]
  snapshot "$@" >"$work/replay.tsv"
  if [ -n "${2:-}" ]; then snapshot beacon "$2" >"$work/want.tsv"; else cp "$work/live.tsv" "$work/want.tsv"; fi
  diff -q "$work/want.tsv" "$work/replay.tsv" >/dev/null
}
replay() {  # ARGS...: beaconctl archive replay on replay.toml, its summary kept
  "$build/appliance/beaconctl" archive replay --config "$work/replay.toml" \
    --from "$from_ms" --to "$to_ms" "$@" | tee -a "$work/replay.log"
}

step "beacond with the archive: $beacons GA beacons, Plausible and Snowplow requests"
{
  beacond_base_config 127.0.0.1:0 2
  printf '[archive]\nenabled = true\ncommit = "group"\n'
} >"$work/beacond.toml"
from_ms=$(($(date +%s%3N) - 1000))
start_beacond
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --seed 7 --truth "$work/truth.tsv" >/dev/null
for i in $(seq 1 40); do
  curl -fsS -o /dev/null -A "Mozilla/5.0 (X11; Linux) Firefox/$((100 + i % 7))" \
    -H 'Content-Type: text/plain' "http://127.0.0.1:$http_port/api/event" \
    --data-binary "{\"n\":\"pageview\",\"u\":\"https://shop.example/p$((i % 5))\",\"d\":\"shop.example\"}"
  curl -fsS -o /dev/null -A "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0" \
    "http://127.0.0.1:$http_port/i?e=pv&tv=js&p=web&aid=shopapp&url=https%3A%2F%2Fshop.example%2Fs&ua=Mozilla%2F5.0+(iPhone%3B+CPU+iPhone+OS+$((i % 4))_0)"
done
drain_beacond
to_ms=$(date +%s%3N)  # in the past once the replay runs: beaconctl refuses a future --to
snapshot beacon >"$work/live.tsv"
echo "live: $(wc -l <"$work/live.tsv") rows of site_minutes and breakdown_minutes"
[ "$(wc -l <"$work/live.tsv")" -gt 100 ] || { echo "too few live rows" >&2; exit 1; }
grep -q "^901	" "$work/live.tsv" || { echo "no Plausible/Snowplow rows" >&2; exit 1; }

step "beaconctl archive cat --worker"
ctl="$build/appliance/beaconctl"
archive="$work/state/archive"
fail=0
check "--worker 1: worker 1's records, none of another" sh -c \
  "'$ctl' archive cat --dir '$archive' --worker 1 | grep -c '^{\"worker\":1,' | grep -qv '^0\$' &&
   ! '$ctl' archive cat --dir '$archive' --worker 1 | grep -qv '^{\"worker\":1,'"
for bad in 4294967297 1.5; do  # 2^32 + 1 named worker 1 before, 1.5 worker 1
  check "--worker $bad refused (exit 2)" sh -c \
    "'$ctl' archive cat --dir '$archive' --worker $bad >/dev/null 2>&1; test \$? -eq 2"
done

step "replay into database replay"
"$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database replay >/dev/null
sed 's/^database = "beacon"$/database = "replay"/' "$work/beacond.toml" >"$work/replay.toml"
replay --threads 1
check "1 thread: site_minutes and breakdown_minutes as live" same_as_live replay
replay --threads 2
check "again with 2 threads: the same batches, dropped as duplicates" same_as_live replay
partitions=$(q "SELECT DISTINCT partition FROM system.parts WHERE database = 'replay' AND active FORMAT TSV")
drop_partitions() {
  for p in $partitions; do
    q "ALTER TABLE replay.site_minutes DROP PARTITION $p"
    q "ALTER TABLE replay.breakdown_minutes DROP PARTITION $p"
  done
}
drop_partitions
check "DROP PARTITION emptied the tables" test "$(q 'SELECT count() FROM replay.site_minutes')" = 0
replay --threads 2
check "after DROP PARTITION, the same replay lands again: as live" same_as_live replay

step "one site"
drop_partitions
replay --threads 2 --sites 901
check "--sites 901: that site's rows as live, and no other" same_as_live replay "WHERE site_id = 901"
check "--sites 901: no other site" \
  test "$(q 'SELECT count() FROM replay.site_minutes WHERE site_id != 901')" = 0
[ $fail -eq 0 ] || { diff "$work/want.tsv" "$work/replay.tsv" | head -20 >&2; exit 1; }
echo "archive_replay_test: every replay wrote what the live run wrote"
