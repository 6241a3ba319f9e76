#!/usr/bin/env bash
# The raw archive as the write-ahead log of the aggregates, against a one-server ClickHouse
# (Replicated tables on a local ZooKeeper): beacond is SIGKILLed right after the last answer,
# while epochs, held breakdown rows and batches are still in memory; restarted, it replays its
# archive from the watermarks before ingress opens and, once drained, ClickHouse holds every
# acknowledged beacon exactly once (beacon-gen verify against the sender's truth).
#   archive_wal_test.sh BUILD_DIR [BEACONS]
set -euo pipefail
build=$(cd "${1:?usage: archive_wal_test.sh BUILD_DIR [BEACONS]}" && pwd)
beacons=${2:-20000}
work=$(mktemp -d /tmp/beacond-archive-replay.XXXXXX)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
begin_test archive_wal_test 20 11

step "beacond with the archive (group commit), 2 workers, breakdown rows held 60 s"
{
  beacond_base_config 127.0.0.1:0 2
  printf 'breakdown_flush_interval_ms = 60000\n'
  printf '[archive]\nenabled = true\ncommit = "group"\n'
  printf '[node]\nid = "replay-test"\n'
} >"$work/beacond.toml"
start_beacond

step "$beacons beacons over HTTP (keep-alive, pipelined), then SIGKILL at once"
wait_early_in_minute
"$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:$http_port" \
  --sites-file "$work/sites.conf" --beacons "$beacons" --connections 8 --pipeline 4 \
  --seed 11 --truth "$work/truth.tsv"
kill -KILL "$beacond_pid"
wait "$beacond_pid" 2>/dev/null || true
beacond_pid=""

step "restart: replay from the watermarks, then drain"
rm -f "$work/ready"
start_beacond
grep 'replayed' "$work/beacond.log"
drain_beacond

step "ClickHouse holds every acknowledged beacon once"
"$build/bench/gen/beacon-gen" verify --truth "$work/truth.tsv" --clickhouse "$ch_url" \
  --database beacon
