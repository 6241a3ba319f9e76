#!/usr/bin/env bash
# Integration test on a 2 x 2 ClickHouse cluster with ZooKeeper: generated beacons over HTTP
# into beacond while a replica of shard 2 is killed (SIGKILL) and stays dead until sending
# ends, and shard 1 is stopped whole and restarted; the analyst queries on the Distributed tables must equal
# the ground truth (counts exactly: zero loss, zero duplicates; visitors within the sketch's
# error), and the metrics must show the spool and the failover at work.
#   cluster_test.sh BUILD_DIR [BEACONS]       BEACONS: 1000000 by hand; CI passes fewer
# Sending is paced to take about 50 s whatever the count, so the outages fall mid-stream.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
self="$root/tests/integration/cluster_test.sh"

metric() {  # metric NAME_WITH_LABELS: its value in beacond's scrape, 0 when absent
  curl -fsS "$BEACOND_METRICS_URL" | awk -v n="$1" '$1 == n { print $2; found = 1 }
    END { if (!found) print 0 }'
}

case "${1:-}" in
  --during)
    # Run by e2e-run in the background while beacon-gen sends (about 50 s).
    sleep 5
    echo "cluster_test: killing shard 2 replica 1 (SIGKILL); it stays dead until sending ends"
    kill -KILL "$(cat "$CLUSTER_DIR/s2-r1/pid")"
    sleep 3
    echo "cluster_test: stopping shard 1 (both replicas)"
    "$CLICKHOUSE_CLUSTER" stop-server "$CLUSTER_DIR" 1 1 &
    "$CLICKHOUSE_CLUSTER" stop-server "$CLUSTER_DIR" 1 2
    wait
    sleep 8
    spooled=$(metric 'beacond_forward_spooled_batches_total{shard="1"}')
    echo "cluster_test: shard 1 down, $spooled batches spooled; restarting it"
    "$CLICKHOUSE_CLUSTER" start-server "$CLUSTER_DIR" 1 1 &
    "$CLICKHOUSE_CLUSTER" start-server "$CLUSTER_DIR" 1 2
    wait
    echo "cluster_test: shard 1 is back"
    exit 0
    ;;
  --between)
    # Run by e2e-run after sending: the outages must have been seen.
    fail=0
    spooled=$(metric 'beacond_forward_spooled_batches_total{shard="1"}')
    failovers=$(metric 'beacond_forward_failovers_total{shard="2"}')
    left=$(metric 'beacond_forward_spool_records{shard="1"}')
    echo "cluster_test: shard 1 spooled $spooled batches ($left still spooled);" \
      "shard 2 failed over $failovers times"
    [ "${spooled%.*}" -gt 0 ] || { echo "cluster_test: nothing was spooled" >&2; fail=1; }
    [ "${failovers%.*}" -gt 0 ] || { echo "cluster_test: no failover seen" >&2; fail=1; }
    # Replication is asynchronous: parts the killed replica took just before it died exist
    # only on its disk until it is back (its peer's fetches wait for it), so it rejoins
    # before the queries that must see every beacon.
    echo "cluster_test: restarting shard 2 replica 1"
    "$CLICKHOUSE_CLUSTER" start-server "$CLUSTER_DIR" 2 1 || fail=1
    exit $fail
    ;;
esac

build=${1:?usage: cluster_test.sh BUILD_DIR [BEACONS]}
beacons=${2:-1000000}
rate=$((beacons / 50))
exec "$root/scripts/e2e-run" --build "$build" --cluster --beacons "$beacons" --sites 40 \
  --seed 12 --rate "$rate" --during "$self --during" --between "$self --between"
