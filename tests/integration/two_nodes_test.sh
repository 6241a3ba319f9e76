#!/usr/bin/env bash
# Two appliances on one 2 x 2 cluster: beacond nodes "pop-a" and "pop-b" ([node] id), one
# registry (every site served by both), each fed by its own beacon-gen (other seeds) with
# BEACONS / 2 beacons over HTTP; pop-b is restarted (SIGTERM, then started again) mid-run.
# The Distributed tables must hold the combined truth of what both took, per (site, minute)
# and per breakdown value: 0 lost, 0 doubled.
#   two_nodes_test.sh BUILD_DIR [--beacons N] [--seed S] [--duration SECONDS] [--keep]
# What a node took: as in kill_loop_test.sh, the requests answered 2xx, and those in doubt
# (a restart took their answer) that its archive holds.
set -euo pipefail
build=$(cd "${1:?usage: two_nodes_test.sh BUILD_DIR [options]}" && pwd)
shift
beacons=50000 seed=31 duration=30 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --beacons) beacons=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "two_nodes_test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
top=$(mktemp -d /tmp/beacond-two-nodes.XXXXXX)
work=$top
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cc="$beacon_root/scripts/clickhouse-cluster"
database=beacon
nodes=(pop-a pop-b)
declare -A pid port sender send_args
finish() {
  local rc=$?
  kill_started "${pid[pop-a]:-}" "${pid[pop-b]:-}" "${sender[pop-a]:-}" "${sender[pop-b]:-}"
  "$cc" stop "$top/cluster" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ] && [ "$keep" -eq 0 ]; then rm -rf "$top"; else
    echo "two_nodes_test: kept $top" >&2; fi
  exit $rc
}
trap finish EXIT

step "A 2 x 2 cluster, one registry, two nodes"
"$cc" start "$top/cluster" --shards 2 --replicas 2 >/dev/null
# shellcheck disable=SC1091  # written by clickhouse-cluster
. "$top/cluster/cluster.env"
"$build/bench/gen/beacon-gen" sites --sites 30 --seed "$seed" --out "$top/sites.conf" >/dev/null
write_uap_subset "$top/uap.yaml"
i=0
for n in "${nodes[@]}"; do
  mkdir -p "$top/$n"
  cp "$top/sites.conf" "$top/$n/sites.conf"
  port[$n]=$(free_ports 1)
  send_args[$n]="--beacons $((beacons / 2)) --seed $((seed + i))"
  i=$((i + 1))
  {
    beacond_config "$top/$n" "127.0.0.1:${port[$n]}" 2
    printf '[node]\nid = "%s"\n' "$n"
    printf '[enrich]\nuser_agents = "%s"\n' "$top/uap.yaml"
    printf '[archive]\nenabled = true\ncommit = "group"\n'
    beacond_cluster_clickhouse "$database" "$top/$n/spool"
  } >"$top/$n/beacond.toml"
done
"$build/appliance/beaconctl" schema --config "$top/pop-a/beacond.toml" >/dev/null
for n in "${nodes[@]}"; do
  start_node "$top/$n"
  pid[$n]=$beacond_pid
done

step "$beacons beacons over HTTP in about $duration s, half to each node; pop-b restarted mid-run"
for n in "${nodes[@]}"; do
  # shellcheck disable=SC2086  # send_args are word lists
  "$build/bench/gen/beacon-gen" send --target "http://127.0.0.1:${port[$n]}" \
    --sites-file "$top/sites.conf" ${send_args[$n]} --connections 4 --pipeline 4 \
    --rate $((beacons / 2 / duration)) --truth "$top/$n/acknowledged-truth.tsv" \
    --request-log "$top/$n/requests.log" --reconnect-timeout-s 60 >"$top/$n/send.txt" &
  sender[$n]=$!
done
sleep $((duration / 2))
echo "restarting pop-b (SIGTERM, then start)"
drain_node "$top/pop-b" "${pid[pop-b]}"
start_node "$top/pop-b"
pid[pop-b]=$beacond_pid
for n in "${nodes[@]}"; do
  rc=0
  wait "${sender[$n]}" || rc=$?
  sender[$n]=""
  cat "$top/$n/send.txt"
  [ $rc -eq 0 ] || { echo "two_nodes_test: the sender to $n failed ($rc)" >&2; exit 1; }
done

step "Draining both nodes (SIGTERM)"
for n in "${nodes[@]}"; do
  drain_node "$top/$n" "${pid[$n]}"
  pid[$n]=""
done

step "The combined truth of what both nodes took"
fail=0
archived_truth "$top/pop-a" "${send_args[pop-a]}" || fail=1
archived_truth "$top/pop-b" "${send_args[pop-b]}" "$top/pop-a/truth.tsv" || fail=1
ch_url=$(sync_cluster_replicas "$database")

step "The Distributed tables beside the combined truth"
report=$("$build/bench/gen/beacon-gen" verify --truth "$top/pop-b/truth.tsv" \
  --clickhouse "$ch_url" --database "$database") || fail=1
echo "$report"
echo "two_nodes_test: $(lost_and_doubled "$report")"
exit $fail
