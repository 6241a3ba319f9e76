#!/usr/bin/env bash
# The UDP beacon relay end to end. Mode dpdk (no hugepages, no NIC): beacon-gen writes a
# capture (hit batches, syslog lines, IPv4/IPv6 fragments, every malformed frame class),
# beacond replays it through net_pcap on a worker lcore into its pipeline, and then
#   - every frame outcome in beacond_dpdk_frames_total equals the capture's frame truth,
#   - every hit is counted (accepted or under its reject reason) as the hit truth says,
#   - after the SIGTERM drain, ClickHouse holds the truth's aggregates (beacon-gen verify).
# Mode udp: the same datagrams sent over loopback to beacond's [udp] kernel-socket relay (two
# workers), with the same hit and ClickHouse checks.
#   tests/integration/dpdk_relay_test.sh BUILD_DIR [HITS] [dpdk|udp]
set -euo pipefail

build=$(cd "$1" && pwd)
hits=${2:-20000}
mode=${3:-dpdk}
work=$(mktemp -d /tmp/beacond-dpdk.XXXXXX)
. "$(dirname "$0")/lib.sh"
begin_test dpdk_relay_test 40 5
# Hit batches carry no time: beacond stamps them with the replay minute.
wait_early_in_minute
if [ "$mode" = dpdk ]; then
step "Writing the capture ($hits hits)"
"$build/bench/gen/beacon-gen" pcap --out "$work/relay.pcap" --sites-file "$work/sites.conf" \
  --beacons "$hits" --seed 5 --truth "$work/truth.tsv" --frames-truth "$work/frames.tsv"

{
  dpdk_test_config beacond-dpdk-test "net_pcap_replay,rx_pcap=$work/relay.pcap"
  cat <<TOML
hit_batch_port = 5140
syslog_port = 5514
reassembly_timeout_ms = 500
TOML
} >"$work/beacond.toml"

step "beacond with the DPDK relay replaying the capture"
start_beacond
save_metrics_at_truth 1  # the fragments of incomplete datagrams time out (reassembly_timeout_ms)

step "Frame outcomes beside the capture's truth"
failed=0
metric() { awk -v name="$1" '$1 == name { print $2 }' "$work/metrics.txt"; }
while read -r kind label n; do
  [ "$kind" = "frame" ] || continue
  got=$(metric "beacond_dpdk_frames_total{outcome=\"$label\"}")
  printf '%-28s truth %8s  beacond %8s\n' "$label" "$n" "${got:-missing}"
  [ "$got" = "$n" ] || failed=1
done <"$work/frames.tsv"
for key in reassembled fragments_dropped; do
  want=$(awk -v k="$key" '$1 == k { print $2 }' "$work/frames.tsv")
  got=$(metric "beacond_dpdk_${key}_total")
  printf '%-28s truth %8s  beacond %8s\n' "$key" "$want" "${got:-missing}"
  [ "$got" = "$want" ] || failed=1
done
want=$(awk '$1 == "datagrams" { print $2 }' "$work/frames.tsv")
got=$(metric beacond_dpdk_beacons_total)
printf '%-28s truth %8s  beacond %8s\n' datagrams "$want" "${got:-missing}"
[ "$got" = "$want" ] || failed=1
frames=$(awk '$1 == "frame" { n += $3 } END { print n }' "$work/frames.tsv")
reassembled=$(awk '$1 == "reassembled" { print $2 }' "$work/frames.tsv")
got=$(metric 'beacond_dpdk_port_rx_packets_total{port="net_pcap_replay"}')
printf '%-28s truth %8s  beacond %8s\n' port_rx_packets "$((frames - reassembled))" "${got:-missing}"
[ "$got" = "$((frames - reassembled))" ] || failed=1
[ $failed -eq 0 ] || { echo "dpdk_relay_test: frame counters differ from the truth" >&2; exit 1; }

else
step "beacond with the kernel-socket UDP relay"
read -r hit_port syslog_port < <(free_ports 2 udp)
{
  beacond_base_config
  cat <<TOML
[udp]
address = "127.0.0.1"
hit_batch_port = $hit_port
syslog_port = $syslog_port
workers = 2
TOML
} >"$work/beacond.toml"
start_beacond

step "Sending the capture's datagrams ($hits hits) to 127.0.0.1:$hit_port and :$syslog_port"
"$build/bench/gen/beacon-gen" pcap --out "$work/relay.pcap" --sites-file "$work/sites.conf" \
  --beacons "$hits" --seed 5 --truth "$work/truth.tsv" --frames-truth "$work/frames.tsv" \
  --send-to 127.0.0.1 --hit-batch-port "$hit_port" --syslog-port "$syslog_port"
save_metrics_at_truth
want=$(awk '$1 == "datagrams" { print $2 }' "$work/frames.tsv")
got=$(awk '$1 == "beacond_udp_datagrams_total" { print $2 }' "$work/metrics.txt")
echo "datagrams: truth $want, beacond $got"
[ "$got" = "$want" ] || { echo "dpdk_relay_test: datagram count differs" >&2; exit 1; }

fi

step "Draining beacond (SIGTERM)"
drain_beacond

step "What landed in ClickHouse, beside the ground truth"
"$build/bench/gen/beacon-gen" verify --truth "$work/truth.tsv" --clickhouse "$ch_url" \
  --database beacon --metrics-url "file://$work/metrics.txt"
