#!/usr/bin/env bash
# The kill -9 loop: relay datagrams, then BEACONS beacons over HTTP (keep-alive, pipelined)
# into beacond with its archive on (group commit) while beacond is SIGKILLed at KILLS seeded
# random moments and restarted each time on the same state; then a SIGTERM drain and every
# beacon beacond took compared with ClickHouse per (site, minute) and per breakdown value:
# 0 lost, 0 doubled.
#   kill_loop_test.sh BUILD_DIR [--cluster] [--shard-down] [--beacons N] [--kills K]
#                     [--seed S] [--duration SECONDS] [--relay HITS] [--keep]
# --cluster: the 2 x 2 cluster (scripts/clickhouse-cluster) instead of one server with its
# local ZooKeeper (scripts/clickhouse-local); --shard-down: shard 2's both replicas are
# SIGKILLed just before the middle kill and started again 5 s after beacond is back.
# What beacond took: the sender logs each request answered 2xx, and each request whose answer
# a kill took ("in doubt", not resent); a request in doubt counts when its tag is in the
# archive after the run (bench/gen/README.md, "Request log"). The relay datagrams are sent
# first, before any kill, and counted once the archive holds all of them.
set -euo pipefail
build=$(cd "${1:?usage: kill_loop_test.sh BUILD_DIR [options]}" && pwd)
shift
cluster=0 shard_down=0 beacons=50000 kills=3 seed=21 duration=30 relay=3000 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cluster) cluster=1; shift ;;
    --shard-down) shard_down=1; shift ;;
    --beacons) beacons=$2; shift 2 ;;
    --kills) kills=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --relay) relay=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "kill_loop_test: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
top=$(mktemp -d /tmp/beacond-kill-loop.XXXXXX)
node=$top/node
work=$node
mkdir -p "$node"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sites_file=$node/sites.conf
cc="$beacon_root/scripts/clickhouse-cluster"
database=beacon
send_args="--beacons $beacons --seed $seed"
sender_pid=""
finish() {
  local rc=$?
  kill_started "${beacond_pid:-}" "$sender_pid"
  if [ "$cluster" -eq 1 ]; then
    "$cc" stop "$top/cluster" >/dev/null 2>&1 || true
  else
    "$beacon_root/scripts/clickhouse-local" stop "$top/clickhouse" >/dev/null 2>&1 || true
  fi
  if [ $rc -eq 0 ] && [ "$keep" -eq 0 ]; then rm -rf "$top"; else
    echo "kill_loop_test: kept $top" >&2; fi
  exit $rc
}
trap finish EXIT

where=$([ "$cluster" -eq 1 ] && echo "a 2 x 2 cluster" || echo "one server with ZooKeeper")
step "ClickHouse ($where), sites, beacond's config"
"$build/bench/gen/beacon-gen" sites --sites 30 --seed "$seed" --out "$sites_file" >/dev/null
write_uap_subset "$top/uap.yaml"
http_listen=127.0.0.1:$(free_ports 1)
read -r hit_port syslog_port < <(free_ports 2 udp)
{
  beacond_config "$node" "$http_listen" 2
  printf '[enrich]\nuser_agents = "%s"\n' "$top/uap.yaml"
  printf '[udp]\naddress = "127.0.0.1"\nhit_batch_port = %s\nsyslog_port = %s\n' \
    "$hit_port" "$syslog_port"
  printf '[archive]\nenabled = true\ncommit = "group"\n'
} >"$node/beacond.toml"
if [ "$cluster" -eq 1 ]; then
  "$cc" start "$top/cluster" --shards 2 --replicas 2 >/dev/null
  # shellcheck disable=SC1091  # written by clickhouse-cluster
  . "$top/cluster/cluster.env"
  beacond_cluster_clickhouse "$database" "$node/spool" >>"$node/beacond.toml"
  "$build/appliance/beaconctl" schema --config "$node/beacond.toml" >/dev/null
else
  ch_url=$("$beacon_root/scripts/clickhouse-local" start "$top/clickhouse" | tail -n 1)
  "$build/appliance/beaconctl" schema --clickhouse "$ch_url" --database "$database" >/dev/null
  printf '[clickhouse]\nurl = "%s"\ndatabase = "%s"\n' "$ch_url" "$database" >>"$node/beacond.toml"
fi
start_node "$node"

step "$relay relay hits over UDP, before any kill, until the archive holds every datagram"
wait_early_in_minute
"$build/bench/gen/beacon-gen" pcap --out "$top/relay.pcap" --sites-file "$sites_file" \
  --beacons "$relay" --seed $((seed + 1000)) --truth "$top/relay-truth.tsv" \
  --frames-truth "$top/relay-frames.tsv" --send-to 127.0.0.1 --hit-batch-port "$hit_port" \
  --syslog-port "$syslog_port"
"$build/bench/gen/beacon-gen" wait-metrics --metrics-url "$metrics_url" \
  --truth "$top/relay-truth.tsv" --timeout-s 30
datagrams=$(awk '$1 == "datagrams" { print $2 }' "$top/relay-frames.tsv")
for _ in $(seq 1 100); do
  records=$("$build/tests/integration/archive_count" "$node/state/archive" | awk '{ print $2 }')
  [ "$records" -ge "$datagrams" ] && break
  sleep 0.1
done
echo "the archive holds $records records for $datagrams relay datagrams"
if [ "$records" -lt "$datagrams" ]; then
  echo "kill_loop_test: the relay datagrams are not all archived" >&2
  exit 1
fi

step "$beacons beacons over HTTP in about $duration s, beacond SIGKILLed $kills times"
# shellcheck disable=SC2086  # send_args is a word list
"$build/bench/gen/beacon-gen" send --target "http://$http_listen" --sites-file "$sites_file" \
  $send_args --connections 8 --pipeline 4 --rate $((beacons / duration)) \
  --truth "$top/acknowledged-truth.tsv" --request-log "$node/requests.log" \
  --reconnect-timeout-s 60 &
sender_pid=$!
started=$SECONDS
# Seeded kill times between 10 % and 70 % of the sending time, in order: restarts delay the
# later ones, which must still fall while beacons are being sent.
mapfile -t kill_at < <(awk -v seed="$seed" -v k="$kills" -v d="$duration" \
  'BEGIN { srand(seed); for (i = 0; i < k; i++) printf "%.1f\n", d * (0.1 + 0.6 * rand()) }' |
  sort -n)
middle=$((kills / 2))
killed=0
shard_pid=""
for i in "${!kill_at[@]}"; do
  # A kill never falls before beacond has taken traffic for a second since its last start.
  sleep 1
  while awk -v now=$((SECONDS - started)) -v at="${kill_at[$i]}" 'BEGIN { exit !(now < at) }'; do
    sleep 0.2
  done
  kill -0 "$sender_pid" 2>/dev/null || break
  down=$([ "$shard_down" -eq 1 ] && [ "$i" -eq "$middle" ] && echo 1 || echo 0)
  if [ "$down" -eq 1 ]; then
    echo "killing shard 2 (both replicas, SIGKILL)"
    kill -KILL "$(cat "$top/cluster/s2-r1/pid")" "$(cat "$top/cluster/s2-r2/pid")"
  fi
  echo "kill $((i + 1)) at $((SECONDS - started)) s (SIGKILL $beacond_pid)"
  kill_node "$beacond_pid"
  killed=$((killed + 1))
  start_node "$node"
  echo "beacond back at $((SECONDS - started)) s"
  if [ "$down" -eq 1 ]; then
    {
      sleep 5
      echo "starting shard 2 again"
      "$cc" start-server "$top/cluster" 2 1 >/dev/null &
      "$cc" start-server "$top/cluster" 2 2 >/dev/null
      wait
    } &
    shard_pid=$!
  fi
done
sender_rc=0
wait "$sender_pid" || sender_rc=$?
sender_pid=""
[ $sender_rc -eq 0 ] || { echo "kill_loop_test: the sender failed ($sender_rc)" >&2; exit 1; }
if [ -n "$shard_pid" ]; then
  wait "$shard_pid" || { echo "kill_loop_test: shard 2 did not start again" >&2; exit 1; }
fi
if [ "$killed" -lt "$kills" ]; then
  echo "kill_loop_test: sending ended after $killed of $kills kills (a longer --duration?)" >&2
  exit 1
fi

step "Draining beacond (SIGTERM)"
drain_beacond

step "The truth: acknowledged requests, and those in doubt that the archive holds, and the relay"
fail=0
archived_truth "$node" "$send_args" "$top/relay-truth.tsv" || fail=1
if [ "$cluster" -eq 1 ]; then
  ch_url=$(sync_cluster_replicas "$database")
fi

step "What landed in ClickHouse, beside the truth"
report=$("$build/bench/gen/beacon-gen" verify --truth "$node/truth.tsv" --clickhouse "$ch_url" \
  --database "$database") || fail=1
echo "$report"
echo "kill_loop_test: $killed kills; $(lost_and_doubled "$report")"
exit $fail
